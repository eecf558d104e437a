//! Compares the message codec pprocess uses (bincode 2 through serde)
//! with postcard on the shapes of message pprocess programs send, so the
//! choice of wire format rests on figures. (wincode, the other successor,
//! has no serde support: it needs its own derives on every message type,
//! so it cannot carry pprocess's serde messages.)
//!
//! ```text
//! cargo run --release --example codec_comparison
//! ```
//!
//! For each shape: the encoded size, and the time to encode and decode one
//! message (mean over many), with each codec.

use std::hint::black_box;
use std::time::Instant;

use pprocess::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// bincode as pprocess configures it.
fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 1 << 30 }>()
}

struct Codec {
    name: &'static str,
    encode: fn(&dyn erased::Message) -> Vec<u8>,
}

/// A way to hold messages of different types behind one signature.
mod erased {
    pub trait Message {
        fn bincode(&self) -> Vec<u8>;
        fn postcard(&self) -> Vec<u8>;
        fn decode_bincode(&self, bytes: &[u8]);
        fn decode_postcard(&self, bytes: &[u8]);
    }
}

impl<T: Serialize + DeserializeOwned> erased::Message for T {
    fn bincode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode_config()).expect("bincode encode")
    }
    fn postcard(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encode")
    }
    fn decode_bincode(&self, bytes: &[u8]) {
        let (value, _): (T, usize) =
            bincode::serde::decode_from_slice(bytes, bincode_config()).expect("bincode decode");
        black_box(value);
    }
    fn decode_postcard(&self, bytes: &[u8]) {
        black_box(postcard::from_bytes::<T>(bytes).expect("postcard decode"));
    }
}

/// Mean nanoseconds of `f` over enough runs to take about 0.2 s.
fn time_ns(mut f: impl FnMut()) -> f64 {
    let mut runs = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..runs {
            f();
        }
        let elapsed = start.elapsed();
        if elapsed.as_millis() >= 200 {
            return elapsed.as_nanos() as f64 / runs as f64;
        }
        runs *= 2;
    }
}

fn main() {
    let words: Vec<(String, String)> = (0..100)
        .map(|i| (format!("word{i}"), format!("file{}.txt", i % 7)))
        .collect();
    let shapes: Vec<(&str, Box<dyn erased::Message>)> = vec![
        ("reuse arguments Some(u64)", Box::new(Some(123_456u64))),
        (
            "grid cell (usize, usize, usize)",
            Box::new((7usize, 3usize, 73usize)),
        ),
        (
            "raytracer row (u32, Bytes of 900)",
            Box::new((17u32, Bytes::from(vec![200u8; 900]))),
        ),
        ("indexer pairs Vec<(String, String)> x100", Box::new(words)),
        (
            "bulk Bytes of 1 MiB",
            Box::new(Bytes::from(vec![1u8; 1 << 20])),
        ),
    ];
    let codecs = [
        Codec {
            name: "bincode 2",
            encode: |message| message.bincode(),
        },
        Codec {
            name: "postcard 1",
            encode: |message| message.postcard(),
        },
    ];
    println!(
        "{:<42} {:<11} {:>9} {:>12} {:>12}",
        "message", "codec", "bytes", "encode ns", "decode ns"
    );
    for (name, message) in &shapes {
        for codec in &codecs {
            let encoded = (codec.encode)(message.as_ref());
            let encode_ns = time_ns(|| {
                black_box((codec.encode)(black_box(message.as_ref())));
            });
            let decode_ns = time_ns(|| match codec.name {
                "bincode 2" => message.decode_bincode(black_box(&encoded)),
                _ => message.decode_postcard(black_box(&encoded)),
            });
            println!(
                "{:<42} {:<11} {:>9} {:>12.1} {:>12.1}",
                name,
                codec.name,
                encoded.len(),
                encode_ns,
                decode_ns
            );
        }
    }
}
