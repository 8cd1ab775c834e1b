use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::crypto::random::os_bytes;
use crate::ports::key_vault::DATA_KEY_BYTES;
use crate::ports::{DataKey, EncryptionContext, KeyVault, VaultError};

const FORMAT_V1: u8 = 1;
const NONCE_BYTES: usize = 12;

/// The local stand-in for KMS: a 256-bit master key in a file readable by its owner only
/// (created on first run), wrapping data keys with AES-256-GCM bound to the encryption context.
pub struct FileKeyVault {
    master: Aes256Gcm,
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("master key file {0} must hold exactly 32 bytes")]
    Length(String),
    #[error("master key file {0} is readable by others; chmod 600 it")]
    Permissions(String),
}

impl FileKeyVault {
    /// Loads the master key, creating it with mode 0600 if the file does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, MasterKeyError> {
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let mut key = Zeroizing::new([0u8; DATA_KEY_BYTES]);
            os_bytes(key.as_mut());
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut file = opts.open(path).map_err(io)?;
            file.write_all(key.as_ref()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(MasterKeyError::Permissions(path.display().to_string()));
            }
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(io)?);
        if bytes.len() != DATA_KEY_BYTES {
            return Err(MasterKeyError::Length(path.display().to_string()));
        }
        Ok(Self::from_key(&bytes))
    }

    /// A vault with a random master key that lives only in memory, for tests.
    pub fn ephemeral() -> Self {
        let mut key = Zeroizing::new([0u8; DATA_KEY_BYTES]);
        os_bytes(key.as_mut());
        Self::from_key(key.as_ref())
    }

    fn from_key(key: &[u8]) -> Self {
        Self {
            master: Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(key)),
        }
    }
}

/// The context as authenticated data: canonical because the map is ordered.
fn aad(context: &EncryptionContext) -> Vec<u8> {
    let mut out = b"whatatalk-vault-v1".to_vec();
    for (k, v) in context {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

#[async_trait]
impl KeyVault for FileKeyVault {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, VaultError> {
        let mut plaintext = Zeroizing::new([0u8; DATA_KEY_BYTES]);
        os_bytes(plaintext.as_mut());
        let mut nonce = [0u8; NONCE_BYTES];
        os_bytes(&mut nonce);
        let sealed = self
            .master
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_ref(),
                    aad: &aad(context),
                },
            )
            .map_err(|_| VaultError::Unavailable("encryption failed".into()))?;
        let mut wrapped = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        wrapped.push(FORMAT_V1);
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; DATA_KEY_BYTES]>, VaultError> {
        let (&version, rest) = wrapped.split_first().ok_or(VaultError::Denied)?;
        if version != FORMAT_V1 || rest.len() < NONCE_BYTES {
            return Err(VaultError::Denied);
        }
        let (nonce, sealed) = rest.split_at(NONCE_BYTES);
        let opened = Zeroizing::new(
            self.master
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad(context),
                    },
                )
                .map_err(|_| VaultError::Denied)?,
        );
        let mut key = Zeroizing::new([0u8; DATA_KEY_BYTES]);
        if opened.len() != DATA_KEY_BYTES {
            return Err(VaultError::Denied);
        }
        key.copy_from_slice(&opened);
        Ok(key)
    }
}
