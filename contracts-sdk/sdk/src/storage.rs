//! Typed storage: single values and maps, SCALE-encoded, under keys derived
//! from the field names of the contract's storage struct.
//!
//! A field named `balances` owns every key that starts with its prefix: the
//! SCALE encoding of the name (a length, then the bytes), so no field's keys
//! can collide with another's. A map entry's key is the prefix followed by
//! the SCALE encoding of the map key. Renaming a field moves its data;
//! reordering fields does not.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use parity_scale_codec::{Decode, Encode};

use crate::env::{abort, ensure_writable, length};
use crate::host;

/// A storage field of a contract struct, placed at its prefix. The
/// `#[contract]` macro constructs every field this way.
pub trait StorageField {
    fn at(prefix: &'static [u8]) -> Self;
}

/// Raw storage access, for keys you build yourself. Prefer [`Value`] and
/// [`Map`], which keep fields apart.
pub mod raw {
    use super::*;

    /// The bytes stored under `key`.
    pub fn get(key: &[u8]) -> Option<Vec<u8>> {
        // Most values are small: try a stack buffer first, then the exact size.
        let mut small = [0u8; 128];
        // SAFETY: valid buffers of the stated lengths.
        let found =
            unsafe { host::storage_get(key.as_ptr(), length(key), small.as_mut_ptr(), 128) };
        let size = usize::try_from(found).ok()?;
        if size <= small.len() {
            return Some(small[..size].to_vec());
        }
        let mut value = vec![0u8; size];
        // SAFETY: the buffer has exactly the value's length.
        unsafe {
            host::storage_get(
                key.as_ptr(),
                length(key),
                value.as_mut_ptr(),
                length(&value),
            )
        };
        Some(value)
    }

    /// Stores `value` under `key`.
    pub fn set(key: &[u8], value: &[u8]) {
        ensure_writable();
        // SAFETY: valid buffers of the stated lengths.
        unsafe { host::storage_set(key.as_ptr(), length(key), value.as_ptr(), length(value)) }
    }

    /// Removes `key`.
    pub fn remove(key: &[u8]) {
        ensure_writable();
        // SAFETY: a valid buffer of the stated length.
        unsafe { host::storage_remove(key.as_ptr(), length(key)) }
    }
}

fn decode_or_abort<T: Decode>(bytes: &[u8]) -> T {
    let mut input = bytes;
    match T::decode(&mut input) {
        Ok(value) if input.is_empty() => value,
        _ => abort("stored value does not decode as its field's type"),
    }
}

/// One value of type `T`.
#[derive(Debug)]
pub struct Value<T> {
    prefix: &'static [u8],
    _type: PhantomData<T>,
}

impl<T> StorageField for Value<T> {
    fn at(prefix: &'static [u8]) -> Self {
        Value {
            prefix,
            _type: PhantomData,
        }
    }
}

impl<T: Encode + Decode> Value<T> {
    /// The stored value, if one was set.
    pub fn get(&self) -> Option<T> {
        raw::get(self.prefix).map(|bytes| decode_or_abort(&bytes))
    }

    /// The stored value, or `T::default()`.
    pub fn get_or_default(&self) -> T
    where
        T: Default,
    {
        self.get().unwrap_or_default()
    }

    pub fn set(&mut self, value: &T) {
        raw::set(self.prefix, &value.encode());
    }

    pub fn remove(&mut self) {
        raw::remove(self.prefix);
    }

    pub fn exists(&self) -> bool {
        raw::get(self.prefix).is_some()
    }
}

/// A map from `K` to `V`, iterable in the byte order of the SCALE-encoded
/// keys (which for integers is little-endian, not numeric, order).
#[derive(Debug)]
pub struct Map<K, V> {
    prefix: &'static [u8],
    _types: PhantomData<(K, V)>,
}

impl<K, V> StorageField for Map<K, V> {
    fn at(prefix: &'static [u8]) -> Self {
        Map {
            prefix,
            _types: PhantomData,
        }
    }
}

impl<K: Encode + Decode, V: Encode + Decode> Map<K, V> {
    fn key(&self, key: &K) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.prefix.len() + key.size_hint());
        bytes.extend_from_slice(self.prefix);
        key.encode_to(&mut bytes);
        bytes
    }

    pub fn get(&self, key: &K) -> Option<V> {
        raw::get(&self.key(key)).map(|bytes| decode_or_abort(&bytes))
    }

    /// The value under `key`, or `V::default()`.
    pub fn get_or_default(&self, key: &K) -> V
    where
        V: Default,
    {
        self.get(key).unwrap_or_default()
    }

    pub fn insert(&mut self, key: &K, value: &V) {
        raw::set(&self.key(key), &value.encode());
    }

    pub fn remove(&mut self, key: &K) {
        raw::remove(&self.key(key));
    }

    pub fn contains(&self, key: &K) -> bool {
        raw::get(&self.key(key)).is_some()
    }

    /// Every entry, in ascending key-byte order, read from storage one at a
    /// time as the iterator advances.
    pub fn iter(&self) -> MapIter<K, V> {
        MapIter::open(self.prefix, self.prefix, false)
    }

    /// Every entry, in descending key-byte order.
    pub fn iter_rev(&self) -> MapIter<K, V> {
        MapIter::open(self.prefix, self.prefix, true)
    }

    /// The entries whose key encodes at or after `from`, ascending.
    pub fn iter_from(&self, from: &K) -> MapIter<K, V> {
        MapIter::open(self.prefix, &self.key(from), false)
    }
}

/// The smallest byte string greater than every string starting with
/// `prefix`, or `None` if there is none (all bytes 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// An iterator over a map's entries. Dropping it closes the host iterator.
#[derive(Debug)]
pub struct MapIter<K, V> {
    handle: u32,
    prefix_len: usize,
    key_buffer: Vec<u8>,
    value_buffer: Vec<u8>,
    done: bool,
    _types: PhantomData<(K, V)>,
}

impl<K: Decode, V: Decode> MapIter<K, V> {
    /// Opens `[start, end of the prefix)`.
    fn open(prefix: &[u8], start: &[u8], descending: bool) -> Self {
        let end = prefix_end(prefix);
        let mut flags = if descending {
            host::RANGE_DESCENDING
        } else {
            0
        };
        let end_bytes = match &end {
            Some(end) => end.as_slice(),
            None => {
                flags |= host::RANGE_NO_END;
                &[]
            }
        };
        // SAFETY: valid buffers of the stated lengths.
        let handle = unsafe {
            host::storage_range(
                start.as_ptr(),
                length(start),
                end_bytes.as_ptr(),
                length(end_bytes),
                flags,
            )
        };
        MapIter {
            handle,
            prefix_len: prefix.len(),
            key_buffer: vec![0; 64],
            value_buffer: vec![0; 256],
            done: false,
            _types: PhantomData,
        }
    }
}

impl<K: Decode, V: Decode> Iterator for MapIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        if self.done {
            return None;
        }
        loop {
            // SAFETY: valid buffers of the stated capacities.
            let found = unsafe {
                host::storage_next(
                    self.handle,
                    self.key_buffer.as_mut_ptr(),
                    length(&self.key_buffer),
                    self.value_buffer.as_mut_ptr(),
                    length(&self.value_buffer),
                )
            };
            if found < 0 {
                self.done = true;
                return None;
            }
            let key_len = usize::try_from(found >> 32).unwrap_or(usize::MAX);
            let value_len = usize::try_from(found & 0xffff_ffff).unwrap_or(usize::MAX);
            if key_len > self.key_buffer.len() || value_len > self.value_buffer.len() {
                // Too big for the buffers: the host returns the same entry
                // again once they are large enough.
                self.key_buffer
                    .resize(key_len.max(self.key_buffer.len()), 0);
                self.value_buffer
                    .resize(value_len.max(self.value_buffer.len()), 0);
                continue;
            }
            let key = self
                .key_buffer
                .get(self.prefix_len..key_len)
                .map(decode_or_abort::<K>)
                .unwrap_or_else(|| abort("map key shorter than its prefix"));
            let value = decode_or_abort(&self.value_buffer[..value_len]);
            return Some((key, value));
        }
    }
}

impl<K, V> Drop for MapIter<K, V> {
    fn drop(&mut self) {
        // SAFETY: the handle came from storage_range and is closed once.
        unsafe { host::storage_close(self.handle) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_string_after_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(&[]), None);
    }
}
