//! A big-endian cursor over untrusted TPM bytes: every read is bounds-checked and names the
//! structure, field and offset where it failed.

use super::TpmError;

pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    structure: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], structure: &'static str) -> Self {
        Reader {
            bytes,
            position: 0,
            structure,
        }
    }

    pub(super) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], TpmError> {
        let taken = self
            .position
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.position..end))
            .ok_or(TpmError::Truncated {
                structure: self.structure,
                field,
                offset: self.position,
            })?;
        self.position += len;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], TpmError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, field)?);
        Ok(array)
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, TpmError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, TpmError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, TpmError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, TpmError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A u32 count, refused above `max` before anything is allocated for it.
    pub(super) fn len_u32(&mut self, field: &'static str, max: usize) -> Result<usize, TpmError> {
        let count = usize::try_from(self.u32(field)?).unwrap_or(usize::MAX);
        self.within(field, count, max)
    }

    /// A TPM2B: a u16 size, at most `max`, then that many bytes.
    pub(super) fn sized(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], TpmError> {
        let size = usize::from(self.u16(field)?);
        let size = self.within(field, size, max)?;
        self.take(size, field)
    }

    fn within(&self, field: &'static str, size: usize, max: usize) -> Result<usize, TpmError> {
        if size > max {
            return Err(TpmError::TooLarge {
                structure: self.structure,
                field,
                size,
                max,
            });
        }
        Ok(size)
    }

    /// Refuses bytes after the structure: unsigned content must not ride along.
    pub(super) fn finish(self) -> Result<(), TpmError> {
        let rest = self.bytes.len().saturating_sub(self.position);
        if rest == 0 {
            Ok(())
        } else {
            Err(TpmError::TrailingBytes {
                structure: self.structure,
                count: rest,
            })
        }
    }
}
