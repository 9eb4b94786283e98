//! The artifact cache: compiled modules in memory, bounded by bytes, and
//! on disk, checked before they are trusted.
//!
//! In memory, an artifact is found by its code hash alone: a cache belongs
//! to one VM, whose schedule, meter and engine never change. On disk, where
//! another VM may have left files, keys are blake2b-256 of the code hash,
//! the schedule hash, the gas meter's instrumentation version and the
//! engine id (wasmer version, compiler, target), so a new schedule, meter
//! or engine never runs an artifact built for another.
//!
//! On disk, an artifact file is `MAGIC`, the BLAKE3 hash of the payload, the
//! payload's length and the payload: the module's instantiation gas (8
//! bytes, little-endian) and wasmer's serialized module. Reading checks all
//! three before the payload reaches wasmer's deserializer, which maps it as
//! code without checks of its own; a file that fails is deleted and the
//! module is compiled again. This protects against torn writes and
//! corruption, not against someone who can write the node's data directory.
//! BLAKE3 rather than the blake2b the rest of Cairn uses: it hashes an
//! artifact several times faster (SIMD), and blake2b alone took a quarter
//! of a disk-cache load.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::engine::{self, CompiledModule};
use crate::error::VmError;
use crate::types::{CodeHash, blake2b_256};

/// Version 3: the payload hash is BLAKE3 (blake2b-256 before); files of
/// version 2 fail the check, are removed and compiled again.
const MAGIC: &[u8; 8] = b"CAIRNAF3";
const HEADER_BYTES: usize = MAGIC.len() + 32 + 8;
/// The instantiation gas at the start of the payload.
const GAS_BYTES: usize = 8;

/// Identifies one compiled artifact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ArtifactKey(pub [u8; 32]);

impl ArtifactKey {
    pub(crate) fn new(
        code: &CodeHash,
        schedule_hash: &[u8; 32],
        instrumentation_version: u32,
        engine_id: &str,
    ) -> Self {
        let mut material = Vec::with_capacity(68 + engine_id.len());
        material.extend_from_slice(&code.0);
        material.extend_from_slice(schedule_hash);
        material.extend_from_slice(&instrumentation_version.to_le_bytes());
        material.extend_from_slice(engine_id.as_bytes());
        ArtifactKey(blake2b_256(&material))
    }

    fn file_name(&self) -> String {
        format!("{}.artifact", hex::encode(self.0))
    }
}

/// A compiled module and the gas every instance of it costs, which the
/// call pays before the instance is created.
#[derive(Clone, Debug)]
pub(crate) struct Artifact {
    pub module: CompiledModule,
    /// `InstantiationCosts` of the module's `InstanceShape`, from validation.
    pub instantiation_gas: u64,
}

/// An artifact and what it weighs in the cache.
#[derive(Clone)]
struct Cached {
    artifact: Artifact,
    bytes: u64,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<CodeHash, Cached> for ByBytes {
    fn weight(&self, _code: &CodeHash, value: &Cached) -> u64 {
        value.bytes.max(1)
    }
}

/// Counters of what the cache did, for tests, logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub misses: u64,
    /// Disk files that failed the integrity check and were removed.
    pub corrupt_files: u64,
    /// Artifacts of deployed code compiled during a call, because neither
    /// memory nor disk had them (the disk copy missing or damaged). The
    /// node pays the compile time; the call's gas is the same.
    pub recompiled: u64,
    /// Artifacts in memory now, and their serialized bytes.
    pub memory_entries: u64,
    pub memory_bytes: u64,
}

pub(crate) struct ArtifactCache {
    memory: Cache<CodeHash, Cached, ByBytes>,
    dir: Option<PathBuf>,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    corrupt_files: AtomicU64,
    recompiled: AtomicU64,
}

/// A typical artifact is a few hundred KiB; only sizes the shard count.
const TYPICAL_ARTIFACT_BYTES: u64 = 256 * 1024;

impl ArtifactCache {
    pub(crate) fn new(memory_bytes: u64, dir: Option<PathBuf>) -> Result<Self, VmError> {
        if let Some(dir) = &dir {
            fs::create_dir_all(dir)
                .map_err(|error| VmError::Cache(format!("creating {}: {error}", dir.display())))?;
        }
        let items = usize::try_from(memory_bytes / TYPICAL_ARTIFACT_BYTES)
            .unwrap_or(usize::MAX)
            .max(1);
        Ok(ArtifactCache {
            memory: Cache::with_weighter(items, memory_bytes.max(1), ByBytes),
            dir,
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            corrupt_files: AtomicU64::new(0),
            recompiled: AtomicU64::new(0),
        })
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            corrupt_files: self.corrupt_files.load(Ordering::Relaxed),
            recompiled: self.recompiled.load(Ordering::Relaxed),
            memory_entries: u64::try_from(self.memory.len()).unwrap_or(u64::MAX),
            memory_bytes: self.memory.weight(),
        }
    }

    /// The artifact of `code`, from memory or else from the disk file
    /// `disk_key` names (worked out only if memory has none), or `None`.
    pub(crate) fn get(
        &self,
        code: &CodeHash,
        disk_key: impl FnOnce() -> ArtifactKey,
    ) -> Result<Option<Artifact>, VmError> {
        if let Some(cached) = self.memory.get(code) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(cached.artifact));
        }
        if let Some(dir) = &self.dir {
            let path = dir.join(disk_key().file_name());
            if let Some(payload) = self.read_checked(&path)?
                && let Some(gas) = payload.first_chunk::<GAS_BYTES>()
            {
                let artifact = Artifact {
                    instantiation_gas: u64::from_le_bytes(*gas),
                    module: engine::deserialize_checked(payload.slice(GAS_BYTES..))?,
                };
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                self.remember(*code, artifact.clone(), payload.len());
                return Ok(Some(artifact));
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }

    /// Keeps a freshly compiled artifact in memory and, if configured, on
    /// disk.
    pub(crate) fn insert(
        &self,
        code: CodeHash,
        disk_key: ArtifactKey,
        artifact: &Artifact,
    ) -> Result<(), VmError> {
        let mut payload = artifact.instantiation_gas.to_le_bytes().to_vec();
        payload.extend_from_slice(&artifact.module.serialize()?);
        if let Some(dir) = &self.dir {
            write_atomically(&dir.join(disk_key.file_name()), &payload)?;
        }
        self.remember(code, artifact.clone(), payload.len());
        Ok(())
    }

    /// Counts an artifact compiled during a call.
    pub(crate) fn note_recompiled(&self) {
        self.recompiled.fetch_add(1, Ordering::Relaxed);
    }

    fn remember(&self, code: CodeHash, artifact: Artifact, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.memory.insert(code, Cached { artifact, bytes });
    }

    /// The payload of an artifact file if it exists and is intact, without
    /// a copy of it; a damaged file is removed.
    fn read_checked(&self, path: &Path) -> Result<Option<Bytes>, VmError> {
        let file = match fs::read(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(VmError::Cache(format!(
                    "reading {}: {error}",
                    path.display()
                )));
            }
        };
        match verify(&file).filter(|payload| payload.len() > GAS_BYTES) {
            Some(payload) => {
                let payload = HEADER_BYTES..HEADER_BYTES + payload.len();
                Ok(Some(Bytes::from(file).slice(payload)))
            }
            None => {
                self.corrupt_files.fetch_add(1, Ordering::Relaxed);
                fs::remove_file(path).map_err(|error| {
                    VmError::Cache(format!("removing damaged {}: {error}", path.display()))
                })?;
                Ok(None)
            }
        }
    }
}

/// The payload of an artifact file, if its header matches it.
fn verify(file: &[u8]) -> Option<&[u8]> {
    let (header, payload) = file.split_at_checked(HEADER_BYTES)?;
    let (magic, rest) = header.split_at(MAGIC.len());
    let (hash, length) = rest.split_at(32);
    let length = u64::from_le_bytes(length.try_into().ok()?);
    let intact = magic == MAGIC
        && u64::try_from(payload.len()).ok()? == length
        && blake3::hash(payload).as_bytes() == hash;
    intact.then_some(payload)
}

fn encode(payload: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(HEADER_BYTES + payload.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(blake3::hash(payload).as_bytes());
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(payload);
    file
}

/// Writes to a temporary file in the same directory and renames it over the
/// target, so a reader sees the old file, the new one, or none; never half.
fn write_atomically(path: &Path, payload: &[u8]) -> Result<(), VmError> {
    let fail = |what: &str, error: std::io::Error| {
        VmError::Cache(format!("{what} {}: {error}", path.display()))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|error| fail("creating a file next to", error))?;
    temp.write_all(&encode(payload))
        .map_err(|error| fail("writing", error))?;
    temp.as_file()
        .sync_data()
        .map_err(|error| fail("syncing", error))?;
    temp.persist(path)
        .map_err(|error| fail("renaming into", error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intact_files_verify_and_damaged_ones_do_not() {
        let file = encode(b"artifact bytes");
        assert_eq!(verify(&file), Some(&b"artifact bytes"[..]));
        for cut in [0, 8, HEADER_BYTES, file.len() - 1] {
            assert_eq!(verify(&file[..cut]), None, "truncated to {cut}");
        }
        for flip in [0, 9, HEADER_BYTES - 1, HEADER_BYTES + 3] {
            let mut damaged = file.clone();
            damaged[flip] ^= 1;
            assert_eq!(verify(&damaged), None, "bit flipped at {flip}");
        }
        let mut longer = file.clone();
        longer.push(0);
        assert_eq!(verify(&longer), None);
    }

    #[test]
    fn keys_depend_on_code_schedule_instrumentation_and_engine() {
        let code = CodeHash([1; 32]);
        let key = ArtifactKey::new(&code, &[2; 32], 5, "engine");
        assert_eq!(key, ArtifactKey::new(&code, &[2; 32], 5, "engine"));
        assert_ne!(
            key,
            ArtifactKey::new(&CodeHash([3; 32]), &[2; 32], 5, "engine")
        );
        assert_ne!(key, ArtifactKey::new(&code, &[4; 32], 5, "engine"));
        assert_ne!(key, ArtifactKey::new(&code, &[2; 32], 6, "engine"));
        assert_ne!(key, ArtifactKey::new(&code, &[2; 32], 5, "other engine"));
    }
}
