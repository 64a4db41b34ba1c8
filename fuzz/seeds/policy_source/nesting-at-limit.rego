package warden.release
allow := true
x := {{{{{(((((1)))))}}}}}
