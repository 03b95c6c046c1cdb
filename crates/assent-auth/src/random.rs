//! Random identifiers and key material from the thread-local CSPRNG (seeded by the OS).

use rand::Rng;

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// `prefix` followed by 24 lowercase hex characters (96 random bits): `key_3f9a…`, `wh_…`.
/// Public identifiers, not secrets: unguessable so that ids do not reveal counts or order.
pub fn id(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(bytes::<12>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_96_bits() {
        let a = id("key_");
        assert!(a.starts_with("key_"));
        assert_eq!(a.len(), 4 + 24);
        assert!(a[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, id("key_"));
    }
}
