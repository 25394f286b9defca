//! The output of a batched matrix product split between parallel tasks by
//! tiles of rows, each task writing its tile's results in place.

use std::marker::PhantomData;

use crate::cpu::quant::PACK_ROWS;

/// The output of a batched product (`n` rows of `rows` values, row-major),
/// handed out to parallel tasks by tiles of [`ROW_TILE`] columns.
pub(crate) struct OutputTiles<'a> {
    ptr: *mut f32,
    n: usize,
    rows: usize,
    _out: PhantomData<&'a mut [f32]>,
}

// SAFETY: `OutputTiles` is a `&mut [f32]` split into disjoint tiles; `tile`'s
// contract keeps two views of one tile from living at once.
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
            _out: PhantomData,
        }
    }

    /// Tiles of the output.
    pub(crate) fn tiles(&self) -> usize {
        self.rows.div_ceil(ROW_TILE)
    }

    /// Tile `tile`'s view.
    ///
    /// # Safety
    /// No other view of the same tile may be alive while this one is (two
    /// would write the same memory): callers hand out each index of a
    /// parallel loop over distinct indices once.
    pub(crate) unsafe fn tile(&self, tile: usize) -> TileOut<'_> {
        let first = tile * ROW_TILE;
        assert!(first < self.rows, "tile {tile} past {} rows", self.rows);
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
        // rows`); no other view covers these columns (tiles are disjoint, and
        // `tile`'s contract lets one view of a tile live at a time); `&mut
        // self` keeps this view's own slices from overlapping in time.
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
    fn tiles_cover_the_output_once() {
        let (n, rows) = (3, 2 * ROW_TILE + 5);
        let mut out = vec![0.0f32; n * rows];
        let tiles = OutputTiles::new(&mut out, n, rows);
        assert_eq!(tiles.tiles(), 3);
        for tile in 0..tiles.tiles() {
            // SAFETY: one view of each tile, dropped before the next.
            let mut view = unsafe { tiles.tile(tile) };
            for t in 0..n {
                for (i, v) in view.row(t).iter_mut().enumerate() {
                    *v += (t * rows + tile * ROW_TILE + i) as f32;
                }
            }
        }
        let want: Vec<f32> = (0..n * rows).map(|i| i as f32).collect();
        assert_eq!(out, want);
    }
}
