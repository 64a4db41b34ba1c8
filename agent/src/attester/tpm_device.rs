//! Synchronous access to a TPM 2.0 (hardware, vTPM or swtpm) through tss-esapi: the EK and its
//! certificate, attestation keys (AKs), quotes, PCRs, credential activation, NV indices and
//! persistent keys (an Azure CVM's vTPM publishes its HCL report in NV and keeps its AK at a
//! persistent handle).
//!
//! Keys are never left in the TPM. The EK is re-created from the TCG default template L-1
//! (RSA-2048, SHA-256, AES-128-CFB) whenever it is needed (`TPM2_CreatePrimary` is deterministic
//! for a template), and the AK is loaded under it from an [`AkBlob`] for each operation, so an
//! agent can keep the blob in a state file between runs. Every transient object and session
//! created here is flushed before the call returns: swtpm has only three object slots. NV
//! indices and persistent keys are opened as ESYS objects per call and closed again.
//!
//! NV access authorises with an empty password, as the owner when the index allows owner
//! access (`TPMA_NV_OWNERREAD` / `OWNERWRITE`; how Azure's HCL indices are read and written),
//! else with the index's own authorisation (`AUTHREAD` / `AUTHWRITE`).
//!
//! Every call may block on TPM I/O; run it on a blocking thread.

use std::str::FromStr;

use sha2::{Digest as _, Sha256};
use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, DefaultKey, ak, ek};
use tss_esapi::attributes::{NvIndexAttributes, NvIndexAttributesBuilder};
use tss_esapi::constants::{CapabilityType, NvIndexType, PropertyTag, SessionType};
use tss_esapi::handles::{
    AuthHandle, KeyHandle, NvIndexHandle, NvIndexTpmHandle, ObjectHandle, PcrHandle,
    PersistentTpmHandle, TpmHandle,
};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, SignatureSchemeAlgorithm};
use tss_esapi::interface_types::dynamic_handles::Persistent;
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::{NvAuth, Provision};
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    AttestInfo, CapabilityData, Data, Digest, DigestValues, EncryptedSecret, IdObject, MaxNvBuffer,
    NvPublic, NvPublicBuilder, PcrSelectSize, PcrSelection, PcrSelectionList, PcrSlot, Private,
    Public, SignatureScheme, SymmetricDefinition,
};
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::tss2_esys::TPML_PCR_SELECTION;
use tss_esapi::{Context, TctiNameConf};

/// TCG EK Credential Profile: NV index of the RSA-2048 EK certificate (low range).
pub const RSA_EK_CERTIFICATE_NV_INDEX: u32 = 0x01c0_0002;
/// PCRs 0..=23: the PC Client platform's bank size, and all a 3-octet selection can name.
pub const PCR_COUNT: u8 = 24;
/// `TPM_ALG_SHA256`, the nameAlg of every AK created here.
const NAME_ALG_SHA256: u16 = 0x000B;
/// Quotes retried when the PCRs read afterwards do not match the quoted digest.
const QUOTE_ATTEMPTS: usize = 3;
/// Used when the TPM does not report `TPM_PT_NV_BUFFER_MAX`; every TPM reads and writes this
/// much at once.
const FALLBACK_NV_CHUNK: usize = 512;
const AK_BLOB_MAGIC: &[u8; 8] = b"WARDENAK";
const AK_BLOB_VERSION: u8 = 1;

/// Why a TPM operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TpmDeviceError {
    /// The TCTI could not be opened.
    #[error(
        "cannot open TPM {tcti:?} (e.g. \"device:/dev/tpmrm0\", \"swtpm:host=127.0.0.1,port=2321\"): {message}"
    )]
    Open {
        /// The TCTI configuration string.
        tcti: String,
        /// Why it failed.
        message: String,
    },
    /// A TPM command failed.
    #[error("TPM {operation} failed: {message}")]
    Tpm {
        /// What was being done, e.g. "creating the AK".
        operation: &'static str,
        /// What the TPM (or tss-esapi) reported.
        message: String,
    },
    /// `TPM2_ActivateCredential` rejected the credential blob (wrong AK or EK, or altered).
    #[error(
        "TPM refused the credential: it was not made for this AK and this TPM's EK, or it was altered ({message})"
    )]
    CredentialRefused {
        /// What the TPM (or tss-esapi) reported.
        message: String,
    },
    /// The TPM read none of the PCRs asked for in this bank (bank inactive or PCRs absent).
    #[error("PCR bank {0:?} is not active on this TPM (or the PCRs asked for do not exist)")]
    BankUnavailable(PcrBank),
    /// The PCRs changed between quote and read in every one of this many attempts.
    #[error(
        "the quoted PCRs changed before they could be read, in each of {0} attempts: PCRs are being extended concurrently"
    )]
    PcrsKeptChanging(usize),
    /// A caller-supplied value the TPM cannot take (size, handle range, index type).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An [`AkBlob`] that does not parse.
    #[error("malformed AK blob: {0}")]
    MalformedAkBlob(String),
    /// The TPM answered something inconsistent (wrong attestation type or bank, qualifying data,
    /// signature).
    #[error("unexpected TPM output: {0}")]
    UnexpectedOutput(String),
    /// An NV command on an index failed.
    #[error("TPM {operation} of NV index {index:#010x} failed: {message}")]
    Nv {
        /// The NV index handle.
        index: u32,
        /// What was being done to the index.
        operation: &'static str,
        /// What the TPM (or tss-esapi) reported.
        message: String,
    },
    /// No NV index at this handle.
    #[error("NV index {0:#010x} is not defined on this TPM")]
    NvIndexMissing(u32),
    /// The NV index exists but was never written.
    #[error("NV index {0:#010x} has never been written: there is nothing to read")]
    NvIndexUnwritten(u32),
    /// The NV index allows neither owner nor password authorisation for this access.
    #[error(
        "NV index {index:#010x} allows neither owner nor password {access} (its attributes need a policy or physical presence)"
    )]
    NvAccessDenied {
        /// The NV index handle.
        index: u32,
        /// "reads" or "writes".
        access: &'static str,
    },
    /// The data is larger than the NV index.
    #[error("NV index {index:#010x} holds {size} bytes; {length} bytes do not fit")]
    NvDataTooLarge {
        /// The NV index handle.
        index: u32,
        /// The index's size in bytes.
        size: usize,
        /// The length of the data in bytes.
        length: usize,
    },
    /// No object at this persistent handle.
    #[error("no key at persistent handle {0:#010x} on this TPM")]
    PersistentKeyMissing(u32),
}

/// Describes a tss-esapi error with the TPM's response code text and value.
fn describe(error: tss_esapi::Error) -> String {
    use tss_esapi::constants::response_code::Tss2ResponseCode;
    match error {
        tss_esapi::Error::Tss2Error(code) => match code {
            // The inner codes display as "Response code value: 0x…".
            Tss2ResponseCode::FormatZero(raw) => format!("{code} ({raw})"),
            Tss2ResponseCode::FormatOne(raw) => format!("{code} ({raw})"),
            Tss2ResponseCode::Success => code.to_string(),
        },
        tss_esapi::Error::WrapperError(kind) => format!("{kind} (tss-esapi)"),
    }
}

fn tpm_error(operation: &'static str) -> impl FnOnce(tss_esapi::Error) -> TpmDeviceError {
    move |error| TpmDeviceError::Tpm {
        operation,
        message: describe(error),
    }
}

fn nv_error(
    index: u32,
    operation: &'static str,
) -> impl FnOnce(tss_esapi::Error) -> TpmDeviceError {
    move |error| TpmDeviceError::Nv {
        index,
        operation,
        message: describe(error),
    }
}

/// The key type of an attestation key created by [`TpmDevice::create_ak`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AkAlgorithm {
    /// RSA-2048, RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa2048,
    /// NIST P-256, ECDSA with SHA-256.
    EccP256,
}

/// A PCR bank, by hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PcrBank {
    /// SHA-1 bank.
    Sha1,
    /// SHA-256 bank.
    Sha256,
    /// SHA-384 bank.
    Sha384,
}

impl PcrBank {
    /// The bank's `TPM_ALG_ID`.
    pub fn algorithm_id(self) -> u16 {
        match self {
            PcrBank::Sha1 => 0x0004,
            PcrBank::Sha256 => 0x000B,
            PcrBank::Sha384 => 0x000C,
        }
    }

    /// Size in bytes of a PCR value in this bank.
    pub fn digest_len(self) -> usize {
        match self {
            PcrBank::Sha1 => 20,
            PcrBank::Sha256 => 32,
            PcrBank::Sha384 => 48,
        }
    }

    fn hashing_algorithm(self) -> HashingAlgorithm {
        match self {
            PcrBank::Sha1 => HashingAlgorithm::Sha1,
            PcrBank::Sha256 => HashingAlgorithm::Sha256,
            PcrBank::Sha384 => HashingAlgorithm::Sha384,
        }
    }
}

/// An attestation key as stored between runs: useless without the TPM that created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AkBlob {
    /// Marshalled `TPMT_PUBLIC`.
    pub public: Vec<u8>,
    /// `TPM2B_PRIVATE` content (without its size), encrypted by the TPM under the EK.
    pub private: Vec<u8>,
}

impl AkBlob {
    /// `"WARDENAK" || version 1 || u32 BE length || public || u32 BE length || private`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(
            AK_BLOB_MAGIC.len() + 1 + 8 + self.public.len() + self.private.len(),
        );
        bytes.extend_from_slice(AK_BLOB_MAGIC);
        bytes.push(AK_BLOB_VERSION);
        for part in [&self.public, &self.private] {
            // Both parts are TPM2B-bounded (< 64 KiB), so the length always fits.
            bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        bytes
    }

    /// Parses [`AkBlob::to_bytes`] output, checking that the public part is a `TPMT_PUBLIC`
    /// with nameAlg SHA-256 and the private part fits a `TPM2B_PRIVATE`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TpmDeviceError> {
        let malformed = |reason: &str| TpmDeviceError::MalformedAkBlob(reason.to_owned());
        let rest = bytes
            .strip_prefix(AK_BLOB_MAGIC.as_slice())
            .ok_or_else(|| malformed("not an AK blob (magic missing)"))?;
        let (&version, mut rest) = rest
            .split_first()
            .ok_or_else(|| malformed("truncated before the version"))?;
        if version != AK_BLOB_VERSION {
            return Err(TpmDeviceError::MalformedAkBlob(format!(
                "version {version} is not supported (expected {AK_BLOB_VERSION})"
            )));
        }
        let mut parts = Vec::with_capacity(2);
        for name in ["public", "private"] {
            let (length, tail) = rest.split_first_chunk::<4>().ok_or_else(|| {
                TpmDeviceError::MalformedAkBlob(format!("{name} length truncated"))
            })?;
            let length = u32::from_be_bytes(*length) as usize;
            if length > tail.len() {
                return Err(TpmDeviceError::MalformedAkBlob(format!(
                    "{name} part declares {length} bytes, {} remain",
                    tail.len()
                )));
            }
            let (part, tail) = tail.split_at(length);
            parts.push(part.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(TpmDeviceError::MalformedAkBlob(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        let private = parts.pop().unwrap_or_default();
        let public = parts.pop().unwrap_or_default();
        let parsed = Public::unmarshall(&public).map_err(|error| {
            TpmDeviceError::MalformedAkBlob(format!("public part: {}", describe(error)))
        })?;
        if parsed.name_hashing_algorithm() != HashingAlgorithm::Sha256 {
            return Err(malformed("public part's nameAlg is not SHA-256"));
        }
        Private::try_from(private.as_slice()).map_err(|error| {
            TpmDeviceError::MalformedAkBlob(format!("private part: {}", describe(error)))
        })?;
        Ok(AkBlob { public, private })
    }

    /// The AK's TPM name (`TPM2B_NAME` content): `0x000b || SHA-256(public)`, as AKs created
    /// here have nameAlg SHA-256.
    pub fn name(&self) -> Vec<u8> {
        let mut name = NAME_ALG_SHA256.to_be_bytes().to_vec();
        name.extend_from_slice(&Sha256::digest(&self.public));
        name
    }
}

/// `(PCR index, value)` pairs of one bank, in ascending index order.
pub type PcrValues = Vec<(u8, Vec<u8>)>;

/// A signed quote and the PCR values it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Marshalled `TPMS_ATTEST`: exactly the bytes the AK signed.
    pub attest: Vec<u8>,
    /// Marshalled `TPMT_SIGNATURE`.
    pub signature: Vec<u8>,
    /// Per bank, in the quoted order, `(PCR index, value)` in ascending index order.
    ///
    /// Read right after the quote, so an extension in between would make them differ from
    /// what was quoted. The verifier recomputes the quoted digest from these values, so such
    /// a race could only get the quote refused; [`TpmDevice::quote`] also checks the digest
    /// itself and quotes again when it differs.
    pub pcrs: Vec<(PcrBank, PcrValues)>,
}

/// An open TPM. Not shareable between threads; open one per blocking task.
pub struct TpmDevice {
    context: Context,
}

impl TpmDevice {
    /// Opens the TPM at a tpm2-tss TCTI: `"device:/dev/tpmrm0"` (kernel resource manager) or
    /// `"swtpm:host=127.0.0.1,port=2321"`.
    pub fn open(tcti: &str) -> Result<Self, TpmDeviceError> {
        let open_error = |error| TpmDeviceError::Open {
            tcti: tcti.to_owned(),
            message: describe(error),
        };
        let configuration = TctiNameConf::from_str(tcti).map_err(open_error)?;
        let context = Context::new(configuration).map_err(open_error)?;
        Ok(TpmDevice { context })
    }

    /// The RSA-2048 EK certificate (DER) from NV index 0x01c00002, or `None` when the TPM has
    /// no such index.
    pub fn ek_certificate(&mut self) -> Result<Option<Vec<u8>>, TpmDeviceError> {
        let index = RSA_EK_CERTIFICATE_NV_INDEX;
        let contents = with_nv_index(&mut self.context, index, |ctx, handle| {
            read_nv(ctx, index, handle, Some(NvAuth::NvIndex(handle)))
        });
        match contents {
            Ok(contents) => Ok(Some(trim_der(contents)?)),
            Err(TpmDeviceError::NvIndexMissing(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The EK's marshalled `TPMT_PUBLIC` (TCG default template L-1: RSA-2048).
    pub fn ek_public(&mut self) -> Result<Vec<u8>, TpmDeviceError> {
        with_ek(&mut self.context, |ctx, ek| {
            let (public, _, _) = ctx
                .read_public(ek)
                .map_err(tpm_error("reading the EK public area"))?;
            public
                .marshall()
                .map_err(tpm_error("marshalling the EK public area"))
        })
    }

    /// Creates a restricted signing key under the EK.
    pub fn create_ak(&mut self, algorithm: AkAlgorithm) -> Result<AkBlob, TpmDeviceError> {
        let (key, scheme) = match algorithm {
            AkAlgorithm::Rsa2048 => (
                AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
                SignatureSchemeAlgorithm::RsaSsa,
            ),
            AkAlgorithm::EccP256 => (
                AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
                SignatureSchemeAlgorithm::EcDsa,
            ),
        };
        with_ek(&mut self.context, |ctx, ek| {
            let created = ak::create_ak_2(
                ctx,
                ek,
                HashingAlgorithm::Sha256,
                key,
                scheme,
                None,
                DefaultKey,
            )
            .map_err(tpm_error("creating the AK"))?;
            Ok(AkBlob {
                public: created
                    .out_public
                    .marshall()
                    .map_err(tpm_error("marshalling the AK public area"))?,
                private: created.out_private.value().to_vec(),
            })
        })
    }

    /// Quotes `pcrs` of each of `banks` with `qualifying_data` (at most 64 bytes) as extraData,
    /// then reads the quoted PCR values. `pcrs` may come in any order (the TPM quotes them in
    /// ascending order); duplicates are ignored, and so are repeated banks.
    ///
    /// The digest of the values read is compared with the quoted one (SHA-256, the AK's scheme
    /// hash); when an extension slipped in between, the quote is taken again, up to three times.
    /// The signature is checked by the TPM over the returned `attest` bytes, which proves they
    /// are the signed ones.
    pub fn quote(
        &mut self,
        ak: &AkBlob,
        qualifying_data: &[u8],
        banks: &[PcrBank],
        pcrs: &[u8],
    ) -> Result<Quote, TpmDeviceError> {
        let request = QuoteRequest::new(qualifying_data, banks, pcrs)?;
        let ak_handle = load_ak(&mut self.context, ak)?;
        let result = request.run(&mut self.context, ak_handle);
        finish(
            result,
            flush(&mut self.context, ak_handle, "flushing the AK"),
        )
    }

    /// [`TpmDevice::quote`] with a signing key the TPM keeps at persistent `handle`
    /// (0x81000000..=0x81ffffff; an Azure CVM's vTPM AK is at 0x81000003), authorised with an
    /// empty password. The key stays in the TPM; only its ESYS handle is opened and closed.
    pub fn quote_with_persistent_key(
        &mut self,
        handle: u32,
        qualifying_data: &[u8],
        banks: &[PcrBank],
        pcrs: &[u8],
    ) -> Result<Quote, TpmDeviceError> {
        let request = QuoteRequest::new(qualifying_data, banks, pcrs)?;
        with_persistent_key(&mut self.context, handle, |ctx, key| request.run(ctx, key))
    }

    /// The marshalled `TPMT_PUBLIC` of the key at persistent `handle`.
    pub fn persistent_public(&mut self, handle: u32) -> Result<Vec<u8>, TpmDeviceError> {
        with_persistent_key(&mut self.context, handle, |ctx, key| {
            let (public, _, _) = ctx
                .execute_without_session(|ctx| ctx.read_public(key))
                .map_err(tpm_error("ReadPublic of the persistent key"))?;
            public
                .marshall()
                .map_err(tpm_error("marshalling the persistent key's public area"))
        })
    }

    /// Makes a copy of `ak` persistent at `handle` (`TPM2_EvictControl` with owner
    /// authorisation), as a platform provisions the key [`TpmDevice::quote_with_persistent_key`]
    /// uses. Fails when `handle` is taken.
    pub fn persist_ak(&mut self, ak: &AkBlob, handle: u32) -> Result<(), TpmDeviceError> {
        let persistent = persistent_handle(handle)?;
        let ak_handle = load_ak(&mut self.context, ak)?;
        let result = self
            .context
            .execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
                ctx.evict_control(
                    Provision::Owner,
                    ak_handle.into(),
                    Persistent::Persistent(persistent),
                )
            })
            .map_err(tpm_error("EvictControl (making the AK persistent)"))
            .and_then(|mut object| {
                self.context
                    .tr_close(&mut object)
                    .map_err(tpm_error("closing the persistent AK handle"))
            });
        finish(
            result,
            flush(&mut self.context, ak_handle, "flushing the AK"),
        )
    }

    /// The whole contents of NV index `index`, read in chunks of at most the TPM's
    /// `TPM_PT_NV_BUFFER_MAX` bytes, authorised as the owner when the index allows it
    /// (`TPMA_NV_OWNERREAD`), else with the index's own (empty) password.
    pub fn nv_read(&mut self, index: u32) -> Result<Vec<u8>, TpmDeviceError> {
        with_nv_index(&mut self.context, index, |ctx, handle| {
            read_nv(ctx, index, handle, None)
        })
    }

    /// Writes `data` at the start of NV index `index` (an ordinary index at least that large),
    /// in chunks of at most `TPM_PT_NV_BUFFER_MAX` bytes, authorised as the owner when the index
    /// allows it (`TPMA_NV_OWNERWRITE`), else with the index's own (empty) password.
    pub fn nv_write(&mut self, index: u32, data: &[u8]) -> Result<(), TpmDeviceError> {
        if data.is_empty() {
            return Err(TpmDeviceError::InvalidArgument(
                "nothing to write to the NV index".into(),
            ));
        }
        with_nv_index(&mut self.context, index, |ctx, handle| {
            write_nv(ctx, index, handle, data)
        })
    }

    /// The size of NV index `index`, or `None` when it is not defined.
    pub fn nv_size(&mut self, index: u32) -> Result<Option<usize>, TpmDeviceError> {
        let size = with_nv_index(&mut self.context, index, |ctx, handle| {
            Ok(nv_public(ctx, index, handle)?.data_size())
        });
        match size {
            Ok(size) => Ok(Some(size)),
            Err(TpmDeviceError::NvIndexMissing(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Defines ordinary NV index `index` of `size` bytes that the owner reads and writes
    /// (`TPMA_NV_OWNERREAD | OWNERWRITE`, nameAlg SHA-256, empty password), with owner
    /// authorisation. Fails when the index exists.
    pub fn nv_define(&mut self, index: u32, size: usize) -> Result<(), TpmDeviceError> {
        let tpm_handle = nv_index_handle(index)?;
        if size == 0 || size > usize::from(u16::MAX) {
            return Err(TpmDeviceError::InvalidArgument(format!(
                "an NV index of {size} bytes cannot be defined"
            )));
        }
        let attributes = NvIndexAttributesBuilder::new()
            .with_owner_read(true)
            .with_owner_write(true)
            .build()
            .map_err(nv_error(index, "building the attributes of"))?;
        let public = NvPublicBuilder::new()
            .with_nv_index(tpm_handle)
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes)
            .with_data_area_size(size)
            .build()
            .map_err(nv_error(index, "describing"))?;
        let handle = self
            .context
            .execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
                ctx.nv_define_space(Provision::Owner, None, public)
            })
            .map_err(nv_error(index, "NV_DefineSpace"))?;
        self.context
            .tr_close(&mut ObjectHandle::from(handle))
            .map_err(nv_error(index, "closing the ESYS handle"))
    }

    /// Removes NV index `index` (`TPM2_NV_UndefineSpace` with owner authorisation).
    pub fn nv_undefine(&mut self, index: u32) -> Result<(), TpmDeviceError> {
        let mut object = open_nv_index(&mut self.context, index)?;
        let undefined = self
            .context
            .execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
                ctx.nv_undefine_space(Provision::Owner, NvIndexHandle::from(object))
            })
            .map_err(nv_error(index, "NV_UndefineSpace"));
        if undefined.is_err() {
            // Undefined, the object is gone; otherwise it is still open.
            let _ = self.context.tr_close(&mut object);
        }
        undefined
    }

    /// Reads `pcrs` of `bank`, in ascending index order.
    pub fn read_pcrs(&mut self, bank: PcrBank, pcrs: &[u8]) -> Result<PcrValues, TpmDeviceError> {
        read_pcrs(&mut self.context, bank, &checked_pcrs(pcrs)?)
    }

    /// Extends the SHA-256 bank of PCR `pcr` with `sha256_digest`: the PCR becomes
    /// SHA-256(old || digest). Other banks are left alone.
    pub fn extend_pcr(&mut self, pcr: u8, sha256_digest: [u8; 32]) -> Result<(), TpmDeviceError> {
        let pcr = checked_pcrs(&[pcr])?[0];
        let handle =
            PcrHandle::try_from(u32::from(pcr)).map_err(tpm_error("naming the PCR to extend"))?;
        let digest = Digest::try_from(sha256_digest.as_slice())
            .map_err(tpm_error("preparing the PCR digest"))?;
        let mut digests = DigestValues::new();
        digests.set(HashingAlgorithm::Sha256, digest);
        self.context
            .execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
                ctx.pcr_extend(handle, digests)
            })
            .map_err(tpm_error("PCR_Extend"))
    }

    /// `TPM2_ActivateCredential`: recovers the secret a verifier encrypted with
    /// `TPM2_MakeCredential` for this TPM's EK and the AK's name. The AK authorises as the
    /// activate handle (empty password), the EK through a policy session satisfying its
    /// PolicySecret(endorsement hierarchy) policy.
    pub fn activate_credential(
        &mut self,
        ak: &AkBlob,
        id_object: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Vec<u8>, TpmDeviceError> {
        let id_object = IdObject::try_from(id_object).map_err(|_| {
            TpmDeviceError::InvalidArgument(format!(
                "credential blob of {} bytes is larger than a TPM2B_ID_OBJECT",
                id_object.len()
            ))
        })?;
        let encrypted_secret = EncryptedSecret::try_from(encrypted_secret).map_err(|_| {
            TpmDeviceError::InvalidArgument(format!(
                "encrypted secret of {} bytes is larger than a TPM2B_ENCRYPTED_SECRET",
                encrypted_secret.len()
            ))
        })?;
        with_ek(&mut self.context, |ctx, ek| {
            let ak_handle = load_ak_under(ctx, ek, ak)?;
            let result = activate(ctx, ak_handle, ek, id_object, encrypted_secret);
            finish(result, flush(ctx, ak_handle, "flushing the AK"))
        })
    }
}

/// Returns `result`, or the flush failure when `result` succeeded (a leaked object would make
/// later calls fail for lack of slots, so it is worth reporting).
fn finish<T>(
    result: Result<T, TpmDeviceError>,
    flushed: Result<(), TpmDeviceError>,
) -> Result<T, TpmDeviceError> {
    let value = result?;
    flushed?;
    Ok(value)
}

fn flush(
    ctx: &mut Context,
    handle: impl Into<ObjectHandle>,
    operation: &'static str,
) -> Result<(), TpmDeviceError> {
    ctx.flush_context(handle.into())
        .map_err(tpm_error(operation))
}

/// Creates the EK, runs `f` with it, and flushes it.
fn with_ek<T>(
    ctx: &mut Context,
    f: impl FnOnce(&mut Context, KeyHandle) -> Result<T, TpmDeviceError>,
) -> Result<T, TpmDeviceError> {
    let ek = ek::create_ek_object_2(
        ctx,
        AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
        DefaultKey,
    )
    .map_err(tpm_error("creating the EK"))?;
    let result = f(ctx, ek);
    finish(result, flush(ctx, ek, "flushing the EK"))
}

/// Loads the AK under a fresh EK and flushes the EK: a loaded object does not need its parent.
fn load_ak(ctx: &mut Context, ak: &AkBlob) -> Result<KeyHandle, TpmDeviceError> {
    with_ek(ctx, |ctx, ek| load_ak_under(ctx, ek, ak))
}

fn load_ak_under(
    ctx: &mut Context,
    ek: KeyHandle,
    ak: &AkBlob,
) -> Result<KeyHandle, TpmDeviceError> {
    let public = Public::unmarshall(&ak.public).map_err(|error| {
        TpmDeviceError::MalformedAkBlob(format!("public part: {}", describe(error)))
    })?;
    let private = Private::try_from(ak.private.as_slice()).map_err(|error| {
        TpmDeviceError::MalformedAkBlob(format!("private part: {}", describe(error)))
    })?;
    ak::load_ak(ctx, ek, None, private, public).map_err(tpm_error(
        "loading the AK (was it created by this TPM, under its EK?)",
    ))
}

/// A checked quote request: what [`TpmDevice::quote`] and
/// [`TpmDevice::quote_with_persistent_key`] share.
struct QuoteRequest {
    extra_data: Data,
    selection: PcrSelectionList,
    banks: Vec<PcrBank>,
    pcrs: Vec<u8>,
}

impl QuoteRequest {
    fn new(qualifying_data: &[u8], banks: &[PcrBank], pcrs: &[u8]) -> Result<Self, TpmDeviceError> {
        let banks = distinct_banks(banks)?;
        let pcrs = checked_pcrs(pcrs)?;
        let extra_data = Data::try_from(qualifying_data).map_err(|_| {
            TpmDeviceError::InvalidArgument(format!(
                "qualifying data is {} bytes, at most 64 fit a TPM2B_DATA",
                qualifying_data.len()
            ))
        })?;
        let selection = selection_list(&banks, &pcrs)?;
        Ok(QuoteRequest {
            extra_data,
            selection,
            banks,
            pcrs,
        })
    }

    /// Quotes with `key` until the PCRs read afterwards match the quoted digest, at most
    /// [`QUOTE_ATTEMPTS`] times.
    fn run(&self, ctx: &mut Context, key: KeyHandle) -> Result<Quote, TpmDeviceError> {
        for _ in 0..QUOTE_ATTEMPTS {
            let quote = quote_once(
                ctx,
                key,
                &self.extra_data,
                &self.selection,
                &self.banks,
                &self.pcrs,
            )?;
            if let Some(quote) = quote {
                return Ok(quote);
            }
        }
        Err(TpmDeviceError::PcrsKeptChanging(QUOTE_ATTEMPTS))
    }
}

fn persistent_handle(handle: u32) -> Result<PersistentTpmHandle, TpmDeviceError> {
    PersistentTpmHandle::new(handle).map_err(|_| {
        TpmDeviceError::InvalidArgument(format!(
            "{handle:#010x} is not a persistent handle (0x81000000 to 0x81ffffff)"
        ))
    })
}

fn nv_index_handle(index: u32) -> Result<NvIndexTpmHandle, TpmDeviceError> {
    NvIndexTpmHandle::new(index).map_err(|_| {
        TpmDeviceError::InvalidArgument(format!(
            "{index:#010x} is not an NV index handle (0x01000000 to 0x01ffffff)"
        ))
    })
}

/// Whether the TPM lists `handle` (numerically `raw`): asks for the one handle from `raw` on.
fn handle_present(ctx: &mut Context, handle: TpmHandle, raw: u32) -> Result<bool, TpmDeviceError> {
    let (capability, _) = ctx
        .execute_without_session(|ctx| ctx.get_capability(CapabilityType::Handles, raw, 1))
        .map_err(tpm_error("listing handles"))?;
    Ok(matches!(&capability, CapabilityData::Handles(handles) if handles.contains(&handle)))
}

/// Opens the key at persistent `handle`, runs `f` with it and closes the ESYS handle (the key
/// itself stays in the TPM).
fn with_persistent_key<T>(
    ctx: &mut Context,
    handle: u32,
    f: impl FnOnce(&mut Context, KeyHandle) -> Result<T, TpmDeviceError>,
) -> Result<T, TpmDeviceError> {
    let tpm_handle = TpmHandle::Persistent(persistent_handle(handle)?);
    if !handle_present(ctx, tpm_handle, handle)? {
        return Err(TpmDeviceError::PersistentKeyMissing(handle));
    }
    let mut object = ctx
        .execute_without_session(|ctx| ctx.tr_from_tpm_public(tpm_handle))
        .map_err(tpm_error("opening the persistent key"))?;
    let result = f(ctx, KeyHandle::from(object));
    let closed = ctx
        .tr_close(&mut object)
        .map_err(tpm_error("closing the persistent key's ESYS handle"));
    finish(result, closed)
}

/// NV index `index` as an open ESYS object ([`TpmDeviceError::NvIndexMissing`] when the TPM has
/// no such index); the caller closes it.
fn open_nv_index(ctx: &mut Context, index: u32) -> Result<ObjectHandle, TpmDeviceError> {
    let tpm_handle = TpmHandle::NvIndex(nv_index_handle(index)?);
    if !handle_present(ctx, tpm_handle, index)? {
        return Err(TpmDeviceError::NvIndexMissing(index));
    }
    ctx.execute_without_session(|ctx| ctx.tr_from_tpm_public(tpm_handle))
        .map_err(nv_error(index, "opening"))
}

/// Opens NV index `index`, runs `f` with it and closes the ESYS object.
fn with_nv_index<T>(
    ctx: &mut Context,
    index: u32,
    f: impl FnOnce(&mut Context, NvIndexHandle) -> Result<T, TpmDeviceError>,
) -> Result<T, TpmDeviceError> {
    let mut object = open_nv_index(ctx, index)?;
    let result = f(ctx, NvIndexHandle::from(object));
    let closed = ctx
        .tr_close(&mut object)
        .map_err(nv_error(index, "closing the ESYS handle"));
    finish(result, closed)
}

fn nv_public(
    ctx: &mut Context,
    index: u32,
    handle: NvIndexHandle,
) -> Result<NvPublic, TpmDeviceError> {
    ctx.execute_without_session(|ctx| ctx.nv_read_public(handle))
        .map(|(public, _)| public)
        .map_err(nv_error(index, "NV_ReadPublic"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NvAccess {
    Read,
    Write,
}

/// How to authorise `access` to an index with `attributes`: as the owner when the index allows
/// it, else with the index's own password; both empty.
fn nv_auth(
    index: u32,
    handle: NvIndexHandle,
    attributes: NvIndexAttributes,
    access: NvAccess,
) -> Result<NvAuth, TpmDeviceError> {
    let (owner, own_password, name) = match access {
        NvAccess::Read => (attributes.owner_read(), attributes.auth_read(), "reads"),
        NvAccess::Write => (attributes.owner_write(), attributes.auth_write(), "writes"),
    };
    if owner {
        Ok(NvAuth::Owner)
    } else if own_password {
        Ok(NvAuth::NvIndex(handle))
    } else {
        Err(TpmDeviceError::NvAccessDenied {
            index,
            access: name,
        })
    }
}

/// The largest NV_Read / NV_Write the TPM takes: `TPM_PT_NV_BUFFER_MAX`.
fn nv_chunk(ctx: &mut Context) -> Result<usize, TpmDeviceError> {
    Ok(ctx
        .get_tpm_property(PropertyTag::NvBufferMax)
        .map_err(tpm_error("reading TPM_PT_NV_BUFFER_MAX"))?
        .map_or(FALLBACK_NV_CHUNK, |max| max as usize)
        .clamp(1, MaxNvBuffer::MAX_SIZE))
}

fn write_nv(
    ctx: &mut Context,
    index: u32,
    handle: NvIndexHandle,
    data: &[u8],
) -> Result<(), TpmDeviceError> {
    let public = nv_public(ctx, index, handle)?;
    let attributes = public.attributes();
    if !matches!(attributes.index_type(), Ok(NvIndexType::Ordinary)) {
        return Err(TpmDeviceError::InvalidArgument(format!(
            "NV index {index:#010x} is not an ordinary (data) index"
        )));
    }
    if data.len() > public.data_size() {
        return Err(TpmDeviceError::NvDataTooLarge {
            index,
            size: public.data_size(),
            length: data.len(),
        });
    }
    let auth = nv_auth(index, handle, attributes, NvAccess::Write)?;
    let chunk = nv_chunk(ctx)?;
    for (number, part) in data.chunks(chunk).enumerate() {
        // Within the index's size, which is a u16.
        let offset = u16::try_from(number * chunk).map_err(|_| TpmDeviceError::NvDataTooLarge {
            index,
            size: public.data_size(),
            length: data.len(),
        })?;
        let buffer = MaxNvBuffer::try_from(part).map_err(nv_error(index, "buffering data for"))?;
        ctx.execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
            ctx.nv_write(auth, handle, buffer, offset)
        })
        .map_err(nv_error(index, "NV_Write"))?;
    }
    Ok(())
}

/// One quote and PCR read; `None` when the values read do not hash to the quoted digest.
fn quote_once(
    ctx: &mut Context,
    ak: KeyHandle,
    extra_data: &Data,
    selection: &PcrSelectionList,
    banks: &[PcrBank],
    pcrs: &[u8],
) -> Result<Option<Quote>, TpmDeviceError> {
    let (attest, signature) = ctx
        .execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
            ctx.quote(
                ak,
                extra_data.clone(),
                SignatureScheme::Null,
                selection.clone(),
            )
        })
        .map_err(tpm_error("Quote"))?;
    let quoted_digest = match attest.attested() {
        AttestInfo::Quote { info } => info.pcr_digest().value().to_vec(),
        _ => {
            return Err(TpmDeviceError::UnexpectedOutput(
                "quote is not a TPM_ST_ATTEST_QUOTE".into(),
            ));
        }
    };
    if attest.extra_data().value() != extra_data.value() {
        return Err(TpmDeviceError::UnexpectedOutput(
            "quote's extraData is not the qualifying data".into(),
        ));
    }
    // tss-esapi hands back the parsed TPMS_ATTEST; the TPM verifies its signature over the
    // re-marshalled bytes, so what is returned is proven to be what was signed.
    let attest_bytes = attest
        .marshall()
        .map_err(tpm_error("marshalling the quote"))?;
    let signed_digest = Digest::try_from(&Sha256::digest(&attest_bytes)[..])
        .map_err(tpm_error("hashing the quote"))?;
    ctx.execute_without_session(|ctx| ctx.verify_signature(ak, signed_digest, signature.clone()))
        .map_err(|error| {
            TpmDeviceError::UnexpectedOutput(format!(
                "the quote's signature does not verify over its re-encoded attestation: {}",
                describe(error)
            ))
        })?;
    let signature_bytes = signature
        .marshall()
        .map_err(tpm_error("marshalling the quote signature"))?;

    let mut values = Vec::with_capacity(banks.len());
    let mut hasher = Sha256::new();
    for &bank in banks {
        let bank_values = read_pcrs(ctx, bank, pcrs)?;
        for (_, value) in &bank_values {
            hasher.update(value);
        }
        values.push((bank, bank_values));
    }
    if hasher.finalize()[..] != quoted_digest[..] {
        return Ok(None);
    }
    Ok(Some(Quote {
        attest: attest_bytes,
        signature: signature_bytes,
        pcrs: values,
    }))
}

/// Reads in as many `TPM2_PCR_Read` calls as the TPM needs: each returns at most 8 values and
/// says which PCRs it read.
fn read_pcrs(ctx: &mut Context, bank: PcrBank, pcrs: &[u8]) -> Result<PcrValues, TpmDeviceError> {
    let mut remaining = pcrs.to_vec();
    let mut values = Vec::with_capacity(pcrs.len());
    while !remaining.is_empty() {
        let selection = selection_list(&[bank], &remaining)?;
        let (_, read, digests) = ctx
            .execute_without_session(|ctx| ctx.pcr_read(selection))
            .map_err(tpm_error("PCR_Read"))?;
        let mut read_pcrs = Vec::new();
        for selection in read.get_selections() {
            if selection.hashing_algorithm() != bank.hashing_algorithm() {
                return Err(TpmDeviceError::UnexpectedOutput(format!(
                    "PCR_Read returned bank {:?} for {bank:?}",
                    selection.hashing_algorithm()
                )));
            }
            read_pcrs.extend(selection.selected().into_iter().map(pcr_index));
        }
        if read_pcrs.is_empty() {
            return Err(TpmDeviceError::BankUnavailable(bank));
        }
        if read_pcrs.len() != digests.len() {
            return Err(TpmDeviceError::UnexpectedOutput(format!(
                "PCR_Read selected {} PCRs but returned {} values",
                read_pcrs.len(),
                digests.len()
            )));
        }
        for (pcr, digest) in read_pcrs.iter().zip(digests.value()) {
            if !remaining.contains(pcr) || digest.len() != bank.digest_len() {
                return Err(TpmDeviceError::UnexpectedOutput(format!(
                    "PCR_Read returned PCR {pcr} ({} bytes), not asked for or of the wrong size",
                    digest.len()
                )));
            }
            values.push((*pcr, digest.value().to_vec()));
        }
        remaining.retain(|pcr| !read_pcrs.contains(pcr));
    }
    values.sort_by_key(|(pcr, _)| *pcr);
    Ok(values)
}

fn pcr_index(slot: PcrSlot) -> u8 {
    // PcrSlot values are the selection bit masks (Slot0 = 1 << 0 ...).
    (slot as u32).trailing_zeros() as u8
}

/// A selection of the same PCRs in each bank, banks in the given order: the order the quoted
/// digest concatenates them in. (tss-esapi's builder keeps banks in a HashMap, losing it.)
fn selection_list(banks: &[PcrBank], pcrs: &[u8]) -> Result<PcrSelectionList, TpmDeviceError> {
    let slots = pcrs
        .iter()
        .map(|&pcr| PcrSlot::try_from(1u32 << pcr))
        .collect::<Result<Vec<_>, _>>()
        .map_err(tpm_error("selecting PCRs"))?;
    let mut list = TPML_PCR_SELECTION::default();
    for (index, bank) in banks.iter().enumerate() {
        let selection =
            PcrSelection::create(bank.hashing_algorithm(), PcrSelectSize::ThreeOctets, &slots)
                .map_err(tpm_error("selecting PCRs"))?;
        list.pcrSelections[index] = selection.into();
        list.count += 1;
    }
    PcrSelectionList::try_from(list).map_err(tpm_error("selecting PCRs"))
}

/// Sorted, de-duplicated PCR indices, all below [`PCR_COUNT`], at least one.
fn checked_pcrs(pcrs: &[u8]) -> Result<Vec<u8>, TpmDeviceError> {
    if let Some(pcr) = pcrs.iter().find(|&&pcr| pcr >= PCR_COUNT) {
        return Err(TpmDeviceError::InvalidArgument(format!(
            "PCR {pcr} does not exist (PCRs are 0 to {})",
            PCR_COUNT - 1
        )));
    }
    let mut pcrs = pcrs.to_vec();
    pcrs.sort_unstable();
    pcrs.dedup();
    if pcrs.is_empty() {
        return Err(TpmDeviceError::InvalidArgument("no PCRs selected".into()));
    }
    Ok(pcrs)
}

fn distinct_banks(banks: &[PcrBank]) -> Result<Vec<PcrBank>, TpmDeviceError> {
    let mut distinct: Vec<PcrBank> = Vec::with_capacity(banks.len());
    for &bank in banks {
        if !distinct.contains(&bank) {
            distinct.push(bank);
        }
    }
    if distinct.is_empty() {
        return Err(TpmDeviceError::InvalidArgument(
            "no PCR banks selected".into(),
        ));
    }
    Ok(distinct)
}

fn activate(
    ctx: &mut Context,
    ak: KeyHandle,
    ek: KeyHandle,
    id_object: IdObject,
    encrypted_secret: EncryptedSecret,
) -> Result<Vec<u8>, TpmDeviceError> {
    let session = ctx
        .start_auth_session(
            None,
            None,
            None,
            SessionType::Policy,
            SymmetricDefinition::AES_128_CFB,
            HashingAlgorithm::Sha256,
        )
        .map_err(tpm_error("starting the EK policy session"))?
        .ok_or_else(|| TpmDeviceError::UnexpectedOutput("no policy session handle".into()))?;
    let result = (|| {
        let policy = PolicySession::try_from(session)
            .map_err(tpm_error("starting the EK policy session"))?;
        ctx.execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
            ctx.policy_secret(
                policy,
                AuthHandle::Endorsement,
                Default::default(),
                Default::default(),
                Default::default(),
                None,
            )
        })
        .map_err(tpm_error("PolicySecret(endorsement) for the EK"))?;
        ctx.execute_with_sessions((Some(AuthSession::Password), Some(session), None), |ctx| {
            ctx.activate_credential(ak, ek, id_object, encrypted_secret)
        })
        .map(|secret| secret.value().to_vec())
        .map_err(|error| {
            use tss_esapi::constants::response_code::Tss2ResponseCodeKind as Kind;
            match error {
                // The outer HMAC (wrong AK name or altered blob), the seed's OAEP decoding
                // (another EK) or the blob's sizes failed: the credential, not the TPM.
                // libtpms before stefanberger/libtpms#445 (2024; Debian 12 ships 0.9.2)
                // reports a failed decryption as TPM_RC_FAILURE without entering failure mode.
                tss_esapi::Error::Tss2Error(code)
                    if matches!(
                        code.kind(),
                        Some(Kind::Integrity | Kind::Value | Kind::Size | Kind::Failure)
                    ) =>
                {
                    TpmDeviceError::CredentialRefused {
                        message: describe(error),
                    }
                }
                _ => tpm_error("ActivateCredential")(error),
            }
        })
    })();
    let flushed = ctx
        .flush_context(ObjectHandle::from(tss_esapi::handles::SessionHandle::from(
            session,
        )))
        .map_err(tpm_error("flushing the EK policy session"));
    finish(result, flushed)
}

/// NV contents, read in chunks no larger than the TPM's `TPM_PT_NV_BUFFER_MAX`, authorised by
/// `auth` or, when `None`, as [`nv_auth`] chooses from the index's attributes.
fn read_nv(
    ctx: &mut Context,
    index: u32,
    handle: NvIndexHandle,
    auth: Option<NvAuth>,
) -> Result<Vec<u8>, TpmDeviceError> {
    let public = nv_public(ctx, index, handle)?;
    let attributes = public.attributes();
    if !attributes.written() {
        return Err(TpmDeviceError::NvIndexUnwritten(index));
    }
    let auth = match auth {
        Some(auth) => auth,
        None => nv_auth(index, handle, attributes, NvAccess::Read)?,
    };
    let size = public.data_size();
    let chunk = nv_chunk(ctx)?;
    let mut contents = Vec::with_capacity(size);
    while contents.len() < size {
        let offset = contents.len();
        let length = chunk.min(size - offset);
        // NV indices are at most a few KiB; TPM offsets and sizes are u16.
        let (Ok(offset), Ok(length)) = (u16::try_from(offset), u16::try_from(length)) else {
            return Err(TpmDeviceError::UnexpectedOutput(format!(
                "NV index {index:#010x} of {size} bytes is too large"
            )));
        };
        let data = ctx
            .execute_with_sessions((Some(AuthSession::Password), None, None), |ctx| {
                ctx.nv_read(auth, handle, length, offset)
            })
            .map_err(nv_error(index, "NV_Read"))?;
        if data.value().is_empty() {
            return Err(TpmDeviceError::UnexpectedOutput(format!(
                "NV_Read of index {index:#010x} returned no data"
            )));
        }
        contents.extend_from_slice(data.value());
    }
    contents.truncate(size);
    Ok(contents)
}

/// The DER certificate at the start of `contents`: some TPMs pad the NV index after it.
fn trim_der(mut contents: Vec<u8>) -> Result<Vec<u8>, TpmDeviceError> {
    let not_der =
        |why: &str| TpmDeviceError::UnexpectedOutput(format!("EK certificate is not DER: {why}"));
    let (&tag, rest) = contents.split_first().ok_or_else(|| not_der("empty"))?;
    let (&first, rest) = rest.split_first().ok_or_else(|| not_der("no length"))?;
    if tag != 0x30 {
        return Err(not_der("does not start with a SEQUENCE"));
    }
    let (header, body) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(not_der("bad length encoding"));
        }
        let body = rest[..count]
            .iter()
            .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
        (2 + count, body)
    };
    let total = header + body;
    if total > contents.len() {
        return Err(not_der("shorter than its declared length"));
    }
    contents.truncate(total);
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ak_blob_parse_errors_are_errors() {
        assert!(matches!(
            AkBlob::from_bytes(b""),
            Err(TpmDeviceError::MalformedAkBlob(_))
        ));
        assert!(matches!(
            AkBlob::from_bytes(b"WARDENAK\x02"),
            Err(TpmDeviceError::MalformedAkBlob(_))
        ));
        let blob = AkBlob {
            public: vec![1, 2, 3],
            private: vec![4],
        };
        let bytes = blob.to_bytes();
        for length in 0..bytes.len() {
            assert!(AkBlob::from_bytes(&bytes[..length]).is_err(), "{length}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(AkBlob::from_bytes(&trailing).is_err());
        // Well framed, but the public part is no TPMT_PUBLIC.
        assert!(matches!(
            AkBlob::from_bytes(&bytes),
            Err(TpmDeviceError::MalformedAkBlob(message)) if message.starts_with("public part")
        ));
    }

    #[test]
    fn der_padding_is_trimmed() {
        assert_eq!(
            trim_der(vec![0x30, 0x01, 0xaa, 0xff, 0xff]).unwrap(),
            vec![0x30, 0x01, 0xaa]
        );
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7, 0x100 + 3));
        assert_eq!(trim_der(long).unwrap().len(), 4 + 0x100);
        assert!(trim_der(vec![0x30, 0x05, 0x00]).is_err());
        assert!(trim_der(vec![0x04, 0x00]).is_err());
        assert!(trim_der(vec![]).is_err());
    }

    #[test]
    fn nv_access_prefers_the_owner_then_the_index_password() {
        let handle = NvIndexHandle::from(tss_esapi::tss2_esys::ESYS_TR_RH_OWNER + 1000);
        let attributes = |owner: bool, own_password: bool| {
            NvIndexAttributesBuilder::new()
                .with_owner_read(owner)
                .with_owner_write(owner)
                .with_auth_read(own_password)
                .with_auth_write(own_password)
                .with_pp_read(true)
                .with_pp_write(true)
                .build()
                .unwrap()
        };
        for access in [NvAccess::Read, NvAccess::Write] {
            assert_eq!(
                nv_auth(1, handle, attributes(true, true), access).unwrap(),
                NvAuth::Owner
            );
            assert_eq!(
                nv_auth(1, handle, attributes(false, true), access).unwrap(),
                NvAuth::NvIndex(handle)
            );
            assert!(matches!(
                nv_auth(1, handle, attributes(false, false), access),
                Err(TpmDeviceError::NvAccessDenied { index: 1, .. })
            ));
        }
        assert!(nv_index_handle(0x0140_0001).is_ok());
        assert!(nv_index_handle(0x8100_0003).is_err());
        assert!(persistent_handle(0x8100_0003).is_ok());
        assert!(persistent_handle(0x0140_0001).is_err());
    }

    #[test]
    fn pcr_arguments_are_checked() {
        assert_eq!(checked_pcrs(&[7, 0, 7, 23]).unwrap(), vec![0, 7, 23]);
        assert!(checked_pcrs(&[24]).is_err());
        assert!(checked_pcrs(&[]).is_err());
        assert_eq!(
            distinct_banks(&[PcrBank::Sha256, PcrBank::Sha1, PcrBank::Sha256]).unwrap(),
            vec![PcrBank::Sha256, PcrBank::Sha1]
        );
        assert!(distinct_banks(&[]).is_err());
        let list = selection_list(&[PcrBank::Sha384, PcrBank::Sha1], &[0, 9, 23]).unwrap();
        let banks: Vec<_> = list
            .get_selections()
            .iter()
            .map(|selection| selection.hashing_algorithm())
            .collect();
        assert_eq!(
            banks,
            vec![HashingAlgorithm::Sha384, HashingAlgorithm::Sha1]
        );
        let pcrs: Vec<u8> = list.get_selections()[0]
            .selected()
            .into_iter()
            .map(pcr_index)
            .collect();
        assert_eq!(pcrs, vec![0, 9, 23]);
    }
}
