//! The output of a batched matrix product split between parallel tasks by
//! tiles of rows, each task writing its tile's results in place.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cpu::quant::PACK_ROWS;

/// The output of a batched product (`n` rows of `rows` values, row-major),
/// handed out to parallel tasks by tiles of [`ROW_TILE`] columns.
pub(crate) struct OutputTiles<'a> {
    ptr: *mut f32,
    n: usize,
    rows: usize,
    /// Which tiles have been handed out: each at most once, so no two views alias.
    taken: Vec<AtomicBool>,
    _out: PhantomData<&'a mut [f32]>,
}

// SAFETY: `OutputTiles` is a `&mut [f32]` split into disjoint tiles, each
// handed out at most once (`tile` checks `taken`).
unsafe impl Send for OutputTiles<'_> {}
// SAFETY: as above: tasks on different threads write disjoint tiles.
unsafe impl Sync for OutputTiles<'_> {}

impl<'a> OutputTiles<'a> {
    pub(crate) fn new(out: &'a mut [f32], n: usize, rows: usize) -> OutputTiles<'a> {
        assert_eq!(out.len(), n * rows, "output size");
        OutputTiles {
            ptr: out.as_mut_ptr(),
            n,
            rows,
            taken: (0..rows.div_ceil(ROW_TILE))
                .map(|_| AtomicBool::new(false))
                .collect(),
            _out: PhantomData,
        }
    }

    /// Tiles of the output.
    pub(crate) fn tiles(&self) -> usize {
        self.rows.div_ceil(ROW_TILE)
    }

    /// Tile `tile`'s view: the first call for each index; a second would
    /// alias the first, so it panics.
    pub(crate) fn tile(&self, tile: usize) -> TileOut<'_> {
        let first = tile * ROW_TILE;
        assert!(first < self.rows, "tile {tile} past {} rows", self.rows);
        let taken = self.taken[tile].swap(true, Ordering::Relaxed);
        assert!(!taken, "tile {tile} handed out twice");
        TileOut {
            tiles: self,
            first,
            len: ROW_TILE.min(self.rows - first),
        }
    }
}

/// One tile's columns `first..first + len` of every output row.
pub(crate) struct TileOut<'a> {
    tiles: &'a OutputTiles<'a>,
    first: usize,
    len: usize,
}

impl TileOut<'_> {
    /// The tile's first column (a row of the weight matrix).
    pub(crate) fn first(&self) -> usize {
        self.first
    }

    /// Columns in the tile.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The tile's columns of output row `t`.
    pub(crate) fn row(&mut self, t: usize) -> &mut [f32] {
        let tiles = self.tiles;
        assert!(t < tiles.n, "output row {t} of {}", tiles.n);
        // SAFETY: the range lies inside the output (`t < n`, `first + len <=
        // rows`), and no other view covers these columns (tiles are disjoint
        // and each is handed out once); `&mut self` keeps this view's own
        // slices from overlapping in time.
        unsafe {
            std::slice::from_raw_parts_mut(tiles.ptr.add(t * tiles.rows + self.first), self.len)
        }
    }
}

/// Rows of output computed by one task: large enough to amortize scheduling,
/// small enough that two cores stay balanced on the smallest matrices. A
/// whole number of packed groups.
pub(crate) const ROW_TILE: usize = 16;
const _: () = assert!(ROW_TILE.is_multiple_of(PACK_ROWS));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_output_once_and_a_second_view_of_one_is_refused() {
        let (n, rows) = (3, 2 * ROW_TILE + 5);
        let mut out = vec![0.0f32; n * rows];
        let tiles = OutputTiles::new(&mut out, n, rows);
        assert_eq!(tiles.tiles(), 3);
        for tile in 0..tiles.tiles() {
            let mut view = tiles.tile(tile);
            for t in 0..n {
                for (i, v) in view.row(t).iter_mut().enumerate() {
                    *v += (t * rows + tile * ROW_TILE + i) as f32;
                }
            }
        }
        let twice = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tiles.tile(1)));
        assert!(twice.is_err(), "a tile was handed out twice");
        let want: Vec<f32> = (0..n * rows).map(|i| i as f32).collect();
        assert_eq!(out, want);
    }
}
