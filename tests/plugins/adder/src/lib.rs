//! `adder`: a component of its own world (`test:adder/adder`, see `wit/`),
//! for the host's "any component" path and its generic invoke route.

wit_bindgen::generate!({ path: "wit", world: "adder" });

use exports::test::adder::shapes::{self, Point, Summary};

struct Adder;

impl Guest for Adder {
    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
}

impl shapes::Guest for Adder {
    fn scale(points: Vec<Point>, factor: f64) -> Vec<Point> {
        points.into_iter().map(|p| Point { x: p.x * factor, y: p.y * factor }).collect()
    }

    fn summarize(values: Vec<u32>, label: String) -> Summary {
        Summary {
            count: values.len() as u32,
            total: values.iter().map(|&v| u64::from(v)).sum(),
            largest: values.iter().copied().max(),
            label,
        }
    }
}

export!(Adder);
