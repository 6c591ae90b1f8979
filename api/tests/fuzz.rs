//! The fuzz targets (`fuzz/`, run for as long as one likes with cargo-fuzz), run
//! briefly on stable: every file of `fuzz/corpus/<target>/`, then deterministic
//! mutations of them (bit flips, byte inserts and deletes, truncations, splices, and
//! tokens the parsers care about). None may panic.

use std::path::Path;

const MUTATIONS: usize = 200_000;

const TOKENS: &[&[u8]] = &[
    b",",
    b"=",
    b"t=",
    b"v1=",
    b"v0=",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"\\u0000",
    b"\"object\":\"event\"",
    b"\"data\":{\"object\":{}}",
    b"\"livemode\":true",
    b"-",
    b"::",
    b"[::1]:80",
    b"255.255.255.255",
    b"\n",
    b"\xff",
    b"\xc3\xa9",
    b"9999999999999999999",
];

/// xorshift64*: the same sequence on every run, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if at < data.len() => {
                data.remove(at);
            }
            3 => data.truncate(at),
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.splice(at..at, other[from..].iter().copied());
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
        }
    }
    data
}

fn run(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no corpus for {target}");
    for seed in &seeds {
        f(seed);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for _ in 0..MUTATIONS {
        let input = mutate(&mut rng, &seeds);
        f(&input);
    }
}

#[test]
fn stripe_signature_headers() {
    run("stripe_signature", gateway::fuzzing::stripe_signature);
}

#[test]
fn event_bodies() {
    run("event_body", gateway::fuzzing::event_body);
}

#[test]
fn tenant_slugs() {
    run("tenant_slug", gateway::fuzzing::tenant_slug);
}

#[test]
fn forwarded_for_headers() {
    run("forwarded_for", gateway::fuzzing::forwarded_for);
}
