//! Moving through a list of tiles by key, the same in Review's cells and lists and in a
//! patient's patches: a step stops at either end; "next unreviewed" wraps round.

/// A move a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileMove {
    /// So many tiles on (negative: back).
    By(isize),
    /// The next tile after this one, wrapping round, that the reader has not judged.
    NextUnreviewed,
}

/// The position in `tiles` that `how` moves to from position `at` (none yet: the start), or
/// `None` when there is nowhere to go: no tiles, or every one reviewed. `reviewed` says whether
/// the reader has judged a tile (a store index).
pub fn moved_to(
    tiles: &[usize],
    at: Option<usize>,
    how: TileMove,
    reviewed: impl Fn(usize) -> bool,
) -> Option<usize> {
    if tiles.is_empty() {
        return None;
    }
    match how {
        TileMove::By(by) => {
            let last = tiles.len() - 1;
            Some(at.map_or(0, |at| at.saturating_add_signed(by).min(last)))
        }
        TileMove::NextUnreviewed => {
            let start = at.map_or(0, |at| at + 1);
            (0..tiles.len())
                .map(|offset| (start + offset) % tiles.len())
                .find(|&position| !reviewed(tiles[position]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_stop_at_the_ends_and_the_first_move_goes_to_the_start() {
        let tiles = [10, 11, 12];
        let none = |_| false;
        assert_eq!(moved_to(&tiles, None, TileMove::By(1), none), Some(0));
        assert_eq!(moved_to(&tiles, Some(2), TileMove::By(1), none), Some(2));
        assert_eq!(moved_to(&tiles, Some(0), TileMove::By(-1), none), Some(0));
        assert_eq!(moved_to(&[], None, TileMove::By(1), none), None);
    }

    #[test]
    fn next_unreviewed_wraps_round_and_finds_none_when_all_are_judged() {
        let tiles = [10, 11, 12, 13];
        let judged = |tile: usize| tile == 13 || tile == 10;
        assert_eq!(
            moved_to(&tiles, Some(2), TileMove::NextUnreviewed, judged),
            Some(1)
        );
        assert_eq!(moved_to(&tiles, None, TileMove::NextUnreviewed, judged), Some(1));
        assert_eq!(
            moved_to(&tiles, Some(1), TileMove::NextUnreviewed, |_| true),
            None
        );
    }
}
