//! Deterministic synthetic generator of Duff Beer orders CSV files.
//!
//! Produces files with the same layout as the real orders extracts, for
//! people who want sample data and for benchmarks and tests:
//!
//! ```text
//! client_id,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,point_of_sale_channel,status
//! ```
//!
//! Usage:
//!
//! ```text
//! generate [--rows N] [--bad-frac F] [--seed S] [--out PATH] [--start-order-id K] [--statuses drawn|advanced]
//! ```
//!
//! Defaults: `--rows 1000 --bad-frac 0.0 --seed 42 --out - --start-order-id 100000`
//! (`-` means stdout). Example:
//!
//! ```text
//! cargo run --release -p duff-cli --example generate -- --rows 1000000 --bad-frac 0.001 --out /tmp/orders_1m.csv
//! ```
//!
//! Data model:
//!
//! - 5,000 clients (ids 1001..=6000) with Springfield-like business names;
//!   about 40% of them need CSV quoting (a comma or a double quote) and some
//!   contain non-ASCII UTF-8. No name ever contains a newline.
//! - 200 products (ids 101..=300), each with a fixed description, price
//!   (0.99..=9.99, always two decimals) and volume in litres.
//! - The client and product catalogs are the same for every seed; `--seed`
//!   only drives the orders.
//! - Client and product popularity are skewed (`floor(n * u^2)` over a fixed
//!   shuffled ranking). Orders have 1 to 3 lines (mostly 1), each line a
//!   different product; client, channel (Retail/Online/B2B 55/30/15) and
//!   status (delivered/created/broken 60/35/5) are per order. Units
//!   (`product_ccf`) come from {1, 4, 6, 12, 24, 48}.
//! - Exactly `--rows` data rows are written; the last order may be cut short.
//! - With probability `--bad-frac` a row is replaced by a malformed variant,
//!   cycling in order through the kinds of malformed row (the `Malformed` enum of
//!   `duff-testkit/src/generate.rs`). Malformed rows count toward `--rows`. The random draws do not depend on `--bad-frac`, so the
//!   well-formed rows of two runs with the same seed are identical.
//!
//! The same arguments always give byte-identical output. Ends by printing
//! `generated N rows (B bytes, M malformed) to PATH` on stderr.
//!
//! The command-line front end is `examples/generate.rs`; this module is also used by the
//! benchmarks and tests to make data.

use std::ffi::OsString;
use std::io::{self, Write};

const HEADER: &[u8] = b"client_id,client_name,order_id,product_id,product_description,\
product_price,product_ccf,product_volume,point_of_sale_channel,status\n";

/// Output buffer size of the command line.
pub const OUTPUT_BUFFER_BYTES: usize = 1 << 20;
const CLIENT_COUNT: usize = 5_000;
const FIRST_CLIENT_ID: u64 = 1001;
const FIRST_PRODUCT_ID: u64 = 101;
/// Seed of the fixed client and product catalogs (independent of `--seed`).
const CATALOG_SEED: u64 = 0xD0FF_BEE5_1989_0001;
/// Share of client names that need CSV quoting.
const QUOTED_NAME_FRAC: f64 = 0.40;

const CHANNELS: [(&str, u32); 3] = [("Retail", 55), ("Online", 30), ("B2B", 15)];
const STATUSES: [(&str, u32); 3] = [("delivered", 60), ("created", 35), ("broken", 5)];
const UNITS: [(u32, u32); 6] = [(1, 10), (4, 10), (6, 30), (12, 25), (24, 20), (48, 5)];
const LINES_PER_ORDER: [(usize, u32); 3] = [(1, 70), (2, 20), (3, 10)];

/// Generation parameters (the parsed command line).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Data rows to write (malformed ones included).
    pub rows: u64,
    /// Probability that a row is replaced by a malformed one.
    pub bad_frac: f64,
    /// Seed of the order draws.
    pub seed: u64,
    /// Output path, `-` for stdout (used by the command line).
    pub out: String,
    /// The first order id.
    pub start_order_id: u64,
    /// Statuses moved on: with the seed and first order id of an earlier file, the same
    /// order lines come out, their `created` orders now `delivered` (one in ten `broken`):
    /// the status updates of a later day.
    pub advanced: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self { rows: 1000, bad_frac: 0.0, seed: 42, out: "-".to_owned(), start_order_id: 100_000, advanced: false }
    }
}

/// The status of an order one step later: `created` becomes `delivered`, or `broken` for
/// one order in ten (chosen by its id, without drawing from the generator).
fn advance(status: &'static str, order_id: u64) -> &'static str {
    if status != "created" {
        return status;
    }
    if SplitMix64::new(order_id).next_u64().is_multiple_of(10) { "broken" } else { "delivered" }
}

/// What [`write_orders`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Data rows, malformed ones included (the header is not counted).
    pub rows: u64,
    /// Bytes written, header included.
    pub bytes: u64,
    /// Malformed rows written.
    pub malformed: u64,
}

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// `SplitMix64`: tiny, fast, and good enough for synthetic data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (multiply-shift; the tiny bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Index in `0..n` skewed towards 0: `floor(n * u^2)`.
    fn skewed_index(&mut self, n: usize) -> usize {
        let u = self.next_f64();
        ((n as f64 * u * u) as usize).min(n - 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Picks a value from `(value, weight)` pairs.
    fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|&(_, weight)| weight).sum();
        let mut roll = self.below(u64::from(total)) as u32;
        for &(value, weight) in table {
            if roll < weight {
                return value;
            }
            roll -= weight;
        }
        table[table.len() - 1].0
    }

    /// A random permutation of `0..n` (Fisher-Yates).
    fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }
}

// ---------------------------------------------------------------------------
// Catalog: clients and products
// ---------------------------------------------------------------------------

const NAMED_BUSINESSES: &[&str] = &[
    "Moe's Tavern",
    "Kwik-E-Mart",
    "Krusty Burger",
    "Lard Lad Donuts",
    "Android's Dungeon",
    "The Leftorium",
    "Try-N-Save",
    "Frying Dutchman",
    "Luigi's",
    "Barney's Bowlarama",
    "Noiseland Arcade",
    "Jittery Joe's",
    "Gulp 'n' Blow",
    "The Happy Sumo",
    "Pimento Grove",
    "Costington's",
    "King Toot's Music",
    "Monstromart",
    "Springfield Tire Yard",
    "Aztec Theater",
    "Herman's Military Antiques",
    "Googolplex Cinemas",
    "Rusty Barnacle",
    "Sir Putt-A-Lot's",
    "Bloodbath & Beyond",
    "Uncle Moe's Family Feedbag",
    "Pin Pals Lanes",
    "Cheap Pete's",
    "Red Tick Roadhouse",
    "Texan's Steakhouse",
    "Café Springfield",
    "Crème Brûlée Bistro",
    "Señor Ding-Dong's",
    "Über Duff Biergarten",
    "Müller's Delicatessen",
    "Björk's Bait & Tackle",
    "Jalapeño Junction",
    "Smørrebrød Shack",
];

const TOWNS: &[&str] = &[
    "Springfield",
    "Shelbyville",
    "Capital City",
    "Ogdenville",
    "North Haverbrook",
    "Brockway",
    "Cypress Creek",
    "Waverly Hills",
    "West Springfield",
    "Mount Splashmore",
];

const BUSINESS_KINDS: &[&str] = &[
    "Liquor",
    "Sports Bar",
    "Grill",
    "Diner",
    "Gas & Go",
    "Supermarket",
    "Pub",
    "Drive-In",
    "Stadium Concessions",
    "Hotel Bar",
    "Cash & Carry",
    "Beer Garden",
    "Brasserie",
    "Cantina",
    "Bowling Alley",
    "Quickstop",
];

const COMPANY_SUFFIXES: &[&str] = &["Inc.", "LLC", "Ltd.", "Co.", "& Sons"];

const NICKNAMES: &[&str] =
    &["The Original", "Since 1989", "Best in Town", "Open Late", "Under New Management", "Duff on Tap"];

/// `(description label, volume as printed in litres, base price in cents)`.
const SIZES: [(&str, &str, u32); 10] = [
    ("25cl", "0.25", 99),
    ("33cl", "0.33", 129),
    ("12oz", "0.354882", 139),
    ("35.5cl", "0.355", 139),
    ("44cl", "0.44", 169),
    ("50cl", "0.5", 199),
    ("75cl", "0.75", 279),
    ("1L", "1.00", 349),
    ("2L", "2.0", 599),
    ("5L Keg", "5", 899),
];

/// `(product line, price premium in cents)`; 20 lines x 10 sizes = 200 products.
const PRODUCT_LINES: [(&str, u32); 20] = [
    ("Classic", 0),
    ("Lite", 0),
    ("Dry", 10),
    ("Dark", 30),
    ("Extra Cold", 20),
    ("Premium", 60),
    ("Red", 30),
    ("Ice", 10),
    ("Zero", 0),
    ("Lager", 10),
    ("Pilsner", 20),
    ("Stout", 50),
    ("Amber", 40),
    ("Wheat", 40),
    ("IPA", 70),
    ("Raspberry", 50),
    ("Christmas Ale", 90),
    ("Bière Blonde", 80),
    ("Weißbier", 60),
    ("Gold", 100),
];

struct Product {
    description: String,
    price_cents: u32,
    volume: &'static str,
}

/// The fixed client and product master data.
struct Catalog {
    /// Client names, already CSV-encoded (quoted and escaped when needed).
    client_fields: Vec<Vec<u8>>,
    /// Client index by popularity rank.
    clients_by_rank: Vec<usize>,
    products: Vec<Product>,
    /// Product index by popularity rank.
    products_by_rank: Vec<usize>,
}

impl Catalog {
    fn build() -> Self {
        let mut rng = SplitMix64::new(CATALOG_SEED);
        let client_fields = (0..CLIENT_COUNT).map(|_| csv_field(&client_name(&mut rng))).collect();
        let clients_by_rank = rng.permutation(CLIENT_COUNT);
        let products = build_products(&mut rng);
        let products_by_rank = rng.permutation(products.len());
        Self { client_fields, clients_by_rank, products, products_by_rank }
    }
}

/// A business name without commas or quotes: a well-known one or "Town Kind".
fn base_business_name(rng: &mut SplitMix64) -> String {
    if rng.below(2) == 0 {
        (*rng.pick(NAMED_BUSINESSES)).to_owned()
    } else {
        format!("{} {}", rng.pick(TOWNS), rng.pick(BUSINESS_KINDS))
    }
}

/// A client name; about [`QUOTED_NAME_FRAC`] of them contain `,` or `"`.
fn client_name(rng: &mut SplitMix64) -> String {
    let base = base_business_name(rng);
    if rng.next_f64() < QUOTED_NAME_FRAC {
        decorated_name_needing_quotes(rng, &base)
    } else {
        decorated_plain_name(rng, &base)
    }
}

fn decorated_plain_name(rng: &mut SplitMix64, base: &str) -> String {
    match rng.below(3) {
        0 => base.to_owned(),
        1 => format!("{base} #{}", 1 + rng.below(99)),
        _ => format!("{base} - {}", rng.pick(TOWNS)),
    }
}

fn decorated_name_needing_quotes(rng: &mut SplitMix64, base: &str) -> String {
    match rng.below(5) {
        0 => format!("{base}, {}", rng.pick(COMPANY_SUFFIXES)),
        1 => format!("{base}, {}", rng.pick(TOWNS)),
        2 => quote_last_word(base),
        3 => format!("{base} \"{}\"", rng.pick(NICKNAMES)),
        _ => format!("{base} #{}, {}", 1 + rng.below(99), rng.pick(TOWNS)),
    }
}

/// `Lard Lad Donuts` -> `Lard Lad "Donuts"`.
fn quote_last_word(name: &str) -> String {
    match name.rsplit_once(' ') {
        Some((head, last)) => format!("{head} \"{last}\""),
        None => format!("\"{name}\""),
    }
}

/// Encodes one CSV field, quoting it (and doubling quotes) when needed.
fn csv_field(value: &str) -> Vec<u8> {
    if !value.contains([',', '"', '\n', '\r']) {
        return value.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(value.len() + 4);
    out.push(b'"');
    for &byte in value.as_bytes() {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
    out
}

fn build_products(rng: &mut SplitMix64) -> Vec<Product> {
    let mut products = Vec::with_capacity(PRODUCT_LINES.len() * SIZES.len());
    for (line, premium) in PRODUCT_LINES {
        for (label, volume, base_cents) in SIZES {
            products.push(Product {
                description: format!("Duff {line} {label}"),
                price_cents: product_price(rng, base_cents + premium),
                volume,
            });
        }
    }
    products
}

/// A price in `99..=999` cents near `target`; a fifth of them are round.
fn product_price(rng: &mut SplitMix64, target: u32) -> u32 {
    let jittered = target + rng.below(40) as u32;
    let price = if rng.below(5) == 0 { jittered / 100 * 100 + 50 * rng.below(2) as u32 } else { jittered };
    price.clamp(99, 999)
}

// ---------------------------------------------------------------------------
// Malformed rows
// ---------------------------------------------------------------------------

/// The kinds of malformed rows, in the order they are cycled through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    /// 9 fields: `status` is left out.
    MissingField,
    /// 11 fields: a non-empty field is appended.
    ExtraField,
    /// `product_price` is `abc`.
    NonNumericPrice,
    /// `product_ccf` is `-6`.
    NegativeUnits,
    /// `status` is `lost`.
    UnknownStatus,
    /// `client_id` is empty.
    EmptyClientId,
    /// `product_price` is `2.505`.
    ThreeDecimalPrice,
    /// `point_of_sale_channel` is `Phone`.
    UnknownChannel,
    /// `order_id` is `12x`.
    NonNumericOrderId,
    /// `product_price` is `-2.50`.
    NegativePrice,
}

impl Malformed {
    const ALL: [Self; 10] = [
        Self::MissingField,
        Self::ExtraField,
        Self::NonNumericPrice,
        Self::NegativeUnits,
        Self::UnknownStatus,
        Self::EmptyClientId,
        Self::ThreeDecimalPrice,
        Self::UnknownChannel,
        Self::NonNumericOrderId,
        Self::NegativePrice,
    ];

    /// The `n`-th malformed row of a file (0-based) has this kind.
    fn nth(n: u64) -> Self {
        Self::ALL[(n % Self::ALL.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------
// Row encoding
// ---------------------------------------------------------------------------

/// What is shared by all lines of one order.
struct Order<'a> {
    id: u64,
    client_id: u64,
    client_field: &'a [u8],
    channel: &'static str,
    status: &'static str,
}

/// One order line (one CSV row).
struct OrderLine<'a> {
    product_id: u64,
    product: &'a Product,
    units: u32,
}

/// Appends `n` in decimal.
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[start..]);
}

/// Appends `cents` as a price with exactly two decimals (`250` -> `2.50`).
fn push_price(buf: &mut Vec<u8>, cents: u32) {
    push_u64(buf, u64::from(cents / 100));
    let fraction = cents % 100;
    buf.extend_from_slice(&[b'.', b'0' + (fraction / 10) as u8, b'0' + (fraction % 10) as u8]);
}

/// Appends one CSV row (with its LF), malformed as `fault` says.
fn encode_row(buf: &mut Vec<u8>, order: &Order, line: &OrderLine, fault: Option<Malformed>) {
    use Malformed as M;

    if fault != Some(M::EmptyClientId) {
        push_u64(buf, order.client_id);
    }
    buf.push(b',');
    buf.extend_from_slice(order.client_field);
    buf.push(b',');
    match fault {
        Some(M::NonNumericOrderId) => buf.extend_from_slice(b"12x"),
        _ => push_u64(buf, order.id),
    }
    buf.push(b',');
    push_u64(buf, line.product_id);
    buf.push(b',');
    buf.extend_from_slice(line.product.description.as_bytes());
    buf.push(b',');
    match fault {
        Some(M::NonNumericPrice) => buf.extend_from_slice(b"abc"),
        Some(M::ThreeDecimalPrice) => buf.extend_from_slice(b"2.505"),
        Some(M::NegativePrice) => buf.extend_from_slice(b"-2.50"),
        _ => push_price(buf, line.product.price_cents),
    }
    buf.push(b',');
    match fault {
        Some(M::NegativeUnits) => buf.extend_from_slice(b"-6"),
        _ => push_u64(buf, u64::from(line.units)),
    }
    buf.push(b',');
    buf.extend_from_slice(line.product.volume.as_bytes());
    buf.push(b',');
    match fault {
        Some(M::UnknownChannel) => buf.extend_from_slice(b"Phone"),
        _ => buf.extend_from_slice(order.channel.as_bytes()),
    }
    match fault {
        Some(M::MissingField) => {}
        Some(M::UnknownStatus) => buf.extend_from_slice(b",lost"),
        _ => {
            buf.push(b',');
            buf.extend_from_slice(order.status.as_bytes());
        }
    }
    if fault == Some(M::ExtraField) {
        buf.extend_from_slice(b",extra");
    }
    buf.push(b'\n');
}

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

fn random_order<'a>(rng: &mut SplitMix64, catalog: &'a Catalog, id: u64) -> Order<'a> {
    let rank = rng.skewed_index(catalog.clients_by_rank.len());
    let client = catalog.clients_by_rank[rank];
    Order {
        id,
        client_id: FIRST_CLIENT_ID + client as u64,
        client_field: &catalog.client_fields[client],
        channel: rng.weighted(&CHANNELS),
        status: rng.weighted(&STATUSES),
    }
}

/// A popularity-skewed product index not in `taken`.
fn distinct_product(rng: &mut SplitMix64, catalog: &Catalog, taken: &[usize]) -> usize {
    loop {
        let rank = rng.skewed_index(catalog.products_by_rank.len());
        let product = catalog.products_by_rank[rank];
        if !taken.contains(&product) {
            return product;
        }
    }
}

/// Writes the header and exactly `cfg.rows` data rows to `w`.
///
/// Does not flush `w`. `cfg.out` is ignored.
pub fn write_orders<W: Write>(w: &mut W, cfg: &Config) -> io::Result<Stats> {
    if cfg.start_order_id.checked_add(cfg.rows).is_none() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "start order id + rows overflows u64"));
    }
    let catalog = Catalog::build();
    let mut rng = SplitMix64::new(cfg.seed);
    let mut stats = Stats::default();
    let mut buf = Vec::with_capacity(256);

    w.write_all(HEADER)?;
    stats.bytes += HEADER.len() as u64;

    let mut order_id = cfg.start_order_id;
    while stats.rows < cfg.rows {
        let mut order = random_order(&mut rng, &catalog, order_id);
        if cfg.advanced {
            order.status = advance(order.status, order_id);
        }
        let line_count = rng.weighted(&LINES_PER_ORDER);
        let mut taken = [usize::MAX; 3];
        for slot in 0..line_count {
            if stats.rows == cfg.rows {
                break;
            }
            let product = distinct_product(&mut rng, &catalog, &taken[..slot]);
            taken[slot] = product;
            let line = OrderLine {
                product_id: FIRST_PRODUCT_ID + product as u64,
                product: &catalog.products[product],
                units: rng.weighted(&UNITS),
            };
            // Always draw, so that `bad_frac` does not shift the other draws.
            let fault = (rng.next_f64() < cfg.bad_frac).then(|| Malformed::nth(stats.malformed));

            buf.clear();
            encode_row(&mut buf, &order, &line, fault);
            w.write_all(&buf)?;
            stats.rows += 1;
            stats.bytes += buf.len() as u64;
            stats.malformed += u64::from(fault.is_some());
        }
        order_id += 1;
    }
    Ok(stats)
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// Why the command line was not accepted.
#[derive(Debug, PartialEq)]
pub enum CliError {
    /// `--help` was asked for.
    Help,
    /// Bad command line; the message names the flag and the value.
    Usage(String),
}

/// Parses `generate`'s arguments (without the program name).
///
/// # Errors
/// `--help`, or a bad flag or value (the message names both).
pub fn parse_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Config, CliError> {
    let mut cfg = Config::default();
    let mut args = args.into_iter();
    while let Some(raw) = args.next() {
        let arg = raw
            .into_string()
            .map_err(|raw| CliError::Usage(format!("argument '{}' is not valid UTF-8", raw.display())))?;
        if arg == "-h" || arg == "--help" {
            return Err(CliError::Help);
        }
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
            _ => (arg, None),
        };
        if !is_known_flag(&flag) {
            return Err(CliError::Usage(format!("unknown flag '{flag}'")));
        }
        let value = match inline_value {
            Some(value) => value,
            None => next_value(&mut args, &flag)?,
        };
        apply_flag(&mut cfg, &flag, &value)?;
    }
    Ok(cfg)
}

fn is_known_flag(flag: &str) -> bool {
    matches!(flag, "--rows" | "--bad-frac" | "--seed" | "--out" | "--start-order-id" | "--statuses")
}

fn next_value<I: Iterator<Item = OsString>>(args: &mut I, flag: &str) -> Result<String, CliError> {
    let raw = args.next().ok_or_else(|| CliError::Usage(format!("missing value for {flag}")))?;
    raw.into_string()
        .map_err(|raw| CliError::Usage(format!("invalid value '{}' for {flag}: not valid UTF-8", raw.display())))
}

fn apply_flag(cfg: &mut Config, flag: &str, value: &str) -> Result<(), CliError> {
    match flag {
        "--rows" => cfg.rows = parse_u64(flag, value)?,
        "--seed" => cfg.seed = parse_u64(flag, value)?,
        "--start-order-id" => cfg.start_order_id = parse_u64(flag, value)?,
        "--bad-frac" => cfg.bad_frac = parse_fraction(flag, value)?,
        "--statuses" => {
            cfg.advanced = match value {
                "drawn" => false,
                "advanced" => true,
                _ => {
                    return Err(CliError::Usage(format!(
                        "invalid value '{value}' for {flag}: expected drawn or advanced"
                    )));
                }
            }
        }
        "--out" if value.is_empty() => {
            return Err(CliError::Usage(format!("invalid value '' for {flag}: expected a path or -")));
        }
        "--out" => value.clone_into(&mut cfg.out),
        _ => return Err(CliError::Usage(format!("unknown flag '{flag}'"))),
    }
    if cfg.start_order_id.checked_add(cfg.rows).is_none() {
        return Err(CliError::Usage(format!(
            "invalid value '{value}' for {flag}: start order id + rows overflows u64"
        )));
    }
    Ok(())
}

fn parse_u64(flag: &str, value: &str) -> Result<u64, CliError> {
    value
        .parse()
        .map_err(|_| CliError::Usage(format!("invalid value '{value}' for {flag}: expected a non-negative integer")))
}

fn parse_fraction(flag: &str, value: &str) -> Result<f64, CliError> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(CliError::Usage(format!("invalid value '{value}' for {flag}: expected a number in [0, 1]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(rows: u64, bad_frac: f64, seed: u64) -> Vec<u8> {
        let cfg = Config { rows, bad_frac, seed, ..Config::default() };
        let mut out = Vec::new();
        let stats = write_orders(&mut out, &cfg).expect("writing to a Vec cannot fail");
        assert_eq!(stats.rows, rows);
        assert_eq!(stats.bytes, out.len() as u64);
        out
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).expect("output is UTF-8")
    }

    /// Data rows (header skipped), split on LF; names never contain newlines.
    fn data_lines(bytes: &[u8]) -> Vec<&str> {
        let lines: Vec<&str> = text(bytes).strip_suffix('\n').unwrap_or("").split('\n').collect();
        lines[1..].to_vec()
    }

    /// Minimal RFC 4180 splitter for one record without embedded newlines.
    fn split_csv(line: &str) -> Vec<String> {
        let mut fields = vec![String::new()];
        let mut in_quotes = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            let field = fields.last_mut().expect("never empty");
            match (c, in_quotes) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', true) => in_quotes = false,
                ('"', false) if field.is_empty() => in_quotes = true,
                (',', false) => fields.push(String::new()),
                _ => field.push(c),
            }
        }
        assert!(!in_quotes, "unterminated quote in {line:?}");
        fields
    }

    #[test]
    fn same_seed_gives_identical_bytes() {
        assert_eq!(generate(5_000, 0.01, 7), generate(5_000, 0.01, 7));
        assert_ne!(generate(1_000, 0.0, 7), generate(1_000, 0.0, 8));
    }

    #[test]
    fn advanced_statuses_keep_the_lines_and_move_created_on() {
        let base = Config { rows: 3_000, ..Config::default() };
        let later = Config { advanced: true, ..base.clone() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_orders(&mut a, &base).unwrap();
        write_orders(&mut b, &later).unwrap();
        let (a, b) = (data_lines(&a), data_lines(&b));
        assert_eq!(a.len(), b.len());
        let mut moved = 0;
        for (x, y) in a.iter().zip(&b) {
            let (x, y) = (split_csv(x), split_csv(y));
            assert_eq!(x[..9], y[..9], "the same line");
            match (x[9].as_str(), y[9].as_str()) {
                ("created", "delivered" | "broken") => moved += 1,
                (s, t) => assert_eq!(s, t),
            }
        }
        assert!(moved > 500, "{moved}");
        let cli = parse_args(["--statuses", "advanced"].map(OsString::from)).unwrap();
        assert!(cli.advanced);
        assert!(parse_args(["--statuses", "later"].map(OsString::from)).is_err());
    }

    #[test]
    fn n_rows_give_n_plus_one_lines() {
        for rows in [0, 1, 2, 3, 10, 999, 4_321] {
            for bad_frac in [0.0, 0.3, 1.0] {
                let out = generate(rows, bad_frac, 42);
                let newlines = out.iter().filter(|&&b| b == b'\n').count() as u64;
                assert_eq!(newlines, rows + 1, "rows={rows} bad_frac={bad_frac}");
                assert!(out.ends_with(b"\n"));
                assert!(!out.contains(&b'\r'));
            }
        }
    }

    #[test]
    fn header_is_exact() {
        let out = generate(3, 0.0, 42);
        assert!(out.starts_with(HEADER));
        assert_eq!(split_csv(text(HEADER).trim_end()).len(), 10);
    }

    #[test]
    fn well_formed_rows_have_ten_valid_fields() {
        let out = generate(20_000, 0.0, 42);
        let mut previous_order = 0u64;
        let mut products_in_order: Vec<String> = Vec::new();
        for line in data_lines(&out) {
            let f = split_csv(line);
            assert_eq!(f.len(), 10, "{line}");
            let client: u64 = f[0].parse().expect("client_id");
            assert!((1001..=6000).contains(&client), "{line}");
            assert!(!f[1].is_empty() && !f[1].contains('\n'));
            let order: u64 = f[2].parse().expect("order_id");
            let product: u64 = f[3].parse().expect("product_id");
            assert!((101..=300).contains(&product), "{line}");
            let (units, cents) = f[5].split_once('.').expect("price has decimals");
            assert_eq!(cents.len(), 2, "{line}");
            let price: f64 = f[5].parse().expect("price");
            assert!((0.99..=9.99).contains(&price) && !units.is_empty(), "{line}");
            assert!(["1", "4", "6", "12", "24", "48"].contains(&f[6].as_str()));
            let volume: f64 = f[7].parse().expect("volume");
            assert!(volume > 0.0 && f[7].split_once('.').is_none_or(|(_, d)| d.len() <= 6));
            assert!(["Retail", "Online", "B2B"].contains(&f[8].as_str()));
            assert!(["delivered", "created", "broken"].contains(&f[9].as_str()));

            if order == previous_order {
                assert!(!products_in_order.contains(&f[3]), "duplicate grain: {line}");
                assert!(products_in_order.len() < 3, "order with > 3 lines: {line}");
            } else {
                assert!(order == previous_order + 1 || previous_order == 0, "{line}");
                products_in_order.clear();
            }
            products_in_order.push(f[3].clone());
            previous_order = order;
        }
    }

    #[test]
    fn bad_frac_one_cycles_through_malformed_kinds() {
        let out = generate(12, 1.0, 42);
        let rows: Vec<Vec<String>> = data_lines(&out).into_iter().map(split_csv).collect();
        assert_eq!(rows[0].len(), 9, "missing field");
        assert_eq!(rows[1].len(), 11, "extra field");
        assert!(!rows[1][10].is_empty());
        assert_eq!(rows[2][5], "abc");
        assert_eq!(rows[3][6], "-6");
        assert_eq!(rows[4][9], "lost");
        assert_eq!(rows[5][0], "");
        assert_eq!(rows[6][5], "2.505");
        assert_eq!(rows[7][8], "Phone");
        assert_eq!(rows[8][2], "12x");
        assert_eq!(rows[9][5], "-2.50");
        assert_eq!(rows[10].len(), 9, "the cycle starts again");
        assert_eq!(rows[11].len(), 11);
        for row in &rows[2..10] {
            assert_eq!(row.len(), 10);
        }
    }

    #[test]
    fn malformed_rows_replace_rows_without_shifting_the_rest() {
        let clean = generate(2_000, 0.0, 9);
        let dirty = generate(2_000, 0.05, 9);
        let (clean, dirty) = (data_lines(&clean), data_lines(&dirty));
        let differing = clean.iter().zip(&dirty).filter(|(a, b)| a != b).count();
        assert!((50..=150).contains(&differing), "{differing} rows differ");
    }

    #[test]
    fn client_names_are_realistic() {
        let catalog = Catalog::build();
        let names = &catalog.client_fields;
        let quoted = names.iter().filter(|n| n.starts_with(b"\"")).count();
        let share = quoted as f64 / names.len() as f64;
        assert!((0.35..=0.45).contains(&share), "quoted share {share}");
        assert!(names.iter().any(|n| !n.is_ascii()));
        assert!(names.iter().any(|n| n.windows(2).any(|w| w == b"\"\"")));
        assert!(names.iter().all(|n| !n.contains(&b'\n') && !n.contains(&b'\r')));
        assert_eq!(catalog.products.len(), 200);
    }

    #[test]
    fn csv_field_quotes_and_escapes() {
        assert_eq!(csv_field("Moe's Tavern"), b"Moe's Tavern");
        assert_eq!(csv_field("Krusty Burger, Inc."), b"\"Krusty Burger, Inc.\"");
        assert_eq!(csv_field("Lard Lad \"Donuts\""), b"\"Lard Lad \"\"Donuts\"\"\"");
    }

    #[test]
    fn number_formatting() {
        let mut buf = Vec::new();
        push_u64(&mut buf, 0);
        buf.push(b' ');
        push_u64(&mut buf, u64::MAX);
        buf.push(b' ');
        push_price(&mut buf, 250);
        buf.push(b' ');
        push_price(&mut buf, 99);
        buf.push(b' ');
        push_price(&mut buf, 300);
        assert_eq!(text(&buf), "0 18446744073709551615 2.50 0.99 3.00");
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_flags_and_defaults() {
        assert_eq!(parse_args(args(&[])), Ok(Config::default()));
        let cfg = parse_args(args(&[
            "--rows",
            "5",
            "--bad-frac",
            "0.25",
            "--seed=9",
            "--out",
            "x.csv",
            "--start-order-id",
            "7",
        ]))
        .expect("valid");
        assert_eq!(
            cfg,
            Config { rows: 5, bad_frac: 0.25, seed: 9, out: "x.csv".to_owned(), start_order_id: 7, advanced: false }
        );
    }

    #[test]
    fn rejects_bad_flags_and_values_naming_them() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["--rowz", "5"], &["--rowz"]),
            (&["--rows", "-5"], &["--rows", "-5"]),
            (&["--rows", "ten"], &["--rows", "ten"]),
            (&["--bad-frac", "1.5"], &["--bad-frac", "1.5"]),
            (&["--bad-frac", "NaN"], &["--bad-frac", "NaN"]),
            (&["--seed"], &["--seed"]),
            (&["--start-order-id", "18446744073709551615"], &["--start-order-id"]),
        ];
        for (input, expected) in cases {
            match parse_args(args(input)) {
                Err(CliError::Usage(message)) => {
                    for word in *expected {
                        assert!(message.contains(word), "{message:?} lacks {word:?}");
                    }
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
    }
}
