//! Finding points on the map: the nearest to the pointer (a 2-D k-d tree, kiddo: a hover among
//! 277k points is a few microseconds) and those inside a lasso or a box.

use kiddo::{ImmutableKdTree, SquaredEuclidean};

/// The map's points, indexed for the nearest-point search.
pub struct PointIndex {
    tree: Option<ImmutableKdTree<f32, 2>>,
}

impl PointIndex {
    pub fn new(points: &[[f32; 2]]) -> Self {
        Self {
            tree: ImmutableKdTree::new_from_slice(points).ok(),
        }
    }

    /// The point nearest `at` (map units) and its squared distance.
    pub fn nearest(&self, at: [f32; 2]) -> Option<(usize, f32)> {
        let tree = self.tree.as_ref()?;
        if tree.size() == 0 {
            return None;
        }
        let found = tree.query(&at).nearest_one::<SquaredEuclidean<f32>>().execute();
        Some((found.item as usize, found.distance))
    }
}

/// Whether `point` lies inside the closed polygon `outline` (even-odd rule).
pub fn inside(outline: &[[f32; 2]], point: [f32; 2]) -> bool {
    let mut inside = false;
    let mut previous = match outline.last() {
        Some(&last) => last,
        None => return false,
    };
    for &corner in outline {
        let crosses = (corner[1] > point[1]) != (previous[1] > point[1]);
        if crosses {
            let x =
                corner[0] + (point[1] - corner[1]) * (previous[0] - corner[0]) / (previous[1] - corner[1]);
            if point[0] < x {
                inside = !inside;
            }
        }
        previous = corner;
    }
    inside
}

/// The indices of `points` inside `outline`, in index order.
pub fn points_inside(points: &[[f32; 2]], outline: &[[f32; 2]]) -> Vec<usize> {
    if outline.len() < 3 {
        return Vec::new();
    }
    let (mut low, mut high) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for corner in outline {
        for axis in 0..2 {
            low[axis] = low[axis].min(corner[axis]);
            high[axis] = high[axis].max(corner[axis]);
        }
    }
    points
        .iter()
        .enumerate()
        .filter(|(_, p)| p[0] >= low[0] && p[0] <= high[0] && p[1] >= low[1] && p[1] <= high[1])
        .filter(|(_, p)| inside(outline, **p))
        .map(|(index, _)| index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_triangle_holds_the_points_inside_it_and_no_others() {
        let points = [[1.0, 1.0], [5.0, 5.0], [2.0, 0.5], [9.0, 1.0], [0.5, 3.5]];
        let triangle = [[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]];
        assert_eq!(points_inside(&points, &triangle), vec![0, 2, 4]);
        assert!(points_inside(&points, &triangle[..2]).is_empty());
    }

    #[test]
    fn the_nearest_point_is_found() {
        let index = PointIndex::new(&[[0.0, 0.0], [10.0, 10.0], [3.0, 4.0]]);
        assert_eq!(index.nearest([2.5, 3.0]), Some((2, 1.25)));
        assert_eq!(PointIndex::new(&[]).nearest([0.0, 0.0]), None);
    }
}
