//! Zeroed byte buffers backed by 2 MiB pages where the OS grants them.
//!
//! Decode streams every weight once per token, ~1 GB for the default model.
//! In 4 KiB pages that is ~260k TLB misses a token, each a page walk that
//! stalls the stream; in 2 MiB pages it is ~500. Linux's transparent huge
//! pages are often enabled only for memory that asks (`madvise` mode), so the
//! repacked weights ask. Elsewhere, or when the kernel declines, the buffer is
//! ordinary memory and only the speed differs.

use std::ops::{Deref, DerefMut};

use memmap2::MmapMut;

/// The huge page size the buffer aligns to.
const HUGE_PAGE: usize = 2 << 20;

/// A zeroed, writable buffer of fixed length, aligned to a 2 MiB huge page and
/// advised to use huge pages.
pub struct HugePageBuffer {
    map: MmapMut,
    /// Where the aligned buffer starts in `map`.
    start: usize,
    len: usize,
}

impl HugePageBuffer {
    /// A zeroed buffer of `len` bytes. Pages are only committed as they are
    /// first written, so the alignment slack costs address space, not memory.
    pub fn zeroed(len: usize) -> std::io::Result<HugePageBuffer> {
        if len < HUGE_PAGE {
            // Too small to hold one huge page: plain anonymous memory.
            let map = MmapMut::map_anon(len.max(1))?;
            return Ok(HugePageBuffer { map, start: 0, len });
        }
        let map = MmapMut::map_anon(len + HUGE_PAGE)?;
        let start = map.as_ptr().align_offset(HUGE_PAGE);
        #[cfg(target_os = "linux")]
        {
            // Declining is not an error: the buffer works without huge pages.
            if let Err(e) = map.advise_range(memmap2::Advice::HugePage, start, len) {
                log::debug!("huge pages not granted for {len} bytes: {e}");
            }
        }
        Ok(HugePageBuffer { map, start, len })
    }
}

impl Deref for HugePageBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map[self.start..self.start + self.len]
    }
}

impl DerefMut for HugePageBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn buffers_are_zeroed_aligned_and_writable_at_every_size() {
        for len in [0, 1, 4095, HUGE_PAGE - 1, HUGE_PAGE, 3 * HUGE_PAGE + 17] {
            let mut buf = HugePageBuffer::zeroed(len).unwrap();
            assert_eq!(buf.len(), len);
            assert!(buf.iter().all(|&b| b == 0));
            if len >= HUGE_PAGE {
                assert_eq!(buf.as_ptr() as usize % HUGE_PAGE, 0);
            }
            buf.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
            assert!(buf.iter().enumerate().all(|(i, &b)| b == i as u8));
        }
    }
}
