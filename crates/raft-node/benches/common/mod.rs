//! What the benchmark binaries share: reading criterion's command line for the extra,
//! non-criterion passes they print (distributions, latency percentiles).

/// Criterion's flags that take a value (so that value is not mistaken for a filter).
const VALUE_FLAGS: [&str; 19] = [
    "--color",
    "-c",
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// How an extra pass named `id` should run, from the binary's arguments: `None` if the filters
/// exclude it (or criterion only lists), `Some(true)` when benchmarking (`cargo bench`),
/// `Some(false)` for a quick smoke run (`cargo test --benches`).
pub fn extra_pass(args: &[String], id: &str) -> Option<bool> {
    let mut filters = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg.starts_with('-') {
            skip_value = VALUE_FLAGS.contains(&arg.as_str());
        } else {
            filters.push(arg.as_str());
        }
    }
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") || !(filters.is_empty() || filters.iter().any(|f| id.contains(f))) {
        return None;
    }
    Some(has("--bench") && !has("--test"))
}
