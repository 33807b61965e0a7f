use sha2::{Digest, Sha256};

use crate::Dataset;

/// The dataset fingerprint of DESIGN.md: SHA-256, in sample-id order, over each sample's id
/// (u64 little-endian), its stored bytes and its label (i32 little-endian), as lowercase hex.
///
/// Two datasets with the same fingerprint hold the same samples under the same ids, so a
/// logit cache made from one can be used with the other.
pub fn fingerprint(dataset: &Dataset) -> String {
    let mut order: Vec<usize> = (0..dataset.len()).collect();
    order.sort_by_key(|&i| dataset.ids[i]);
    let mut hasher = Sha256::new();
    let mut bytes = Vec::new();
    for i in order {
        hasher.update(dataset.ids[i].to_le_bytes());
        dataset.stored_bytes(i, &mut bytes);
        hasher.update(&bytes);
        hasher.update(dataset.labels[i].to_le_bytes());
    }
    hex(&hasher.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of a file's content as lowercase hex, read in chunks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}
