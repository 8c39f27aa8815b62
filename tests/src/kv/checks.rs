//! test_test.go's content checks of an appended value: every element a client appended is
//! there, exactly once, in the client's order.

/// The element client `clnt` appends as its `j`th: `x <clnt> <j> y` (the spaces and the `x`,
/// `y` keep element 1 from matching inside element 11).
#[must_use]
pub fn element(clnt: usize, j: usize) -> String {
    format!("x {clnt} {j} y")
}

/// checkClntAppends: the first `count` elements of client `clnt` are in `v`, each once, in
/// order. Panics with the Go message otherwise.
pub fn check_clnt_appends(clnt: usize, v: &str, count: usize) {
    let mut last_offset: Option<usize> = None;
    for j in 0..count {
        let wanted = element(clnt, j);
        let Some(offset) = v.find(&wanted) else {
            panic!("{clnt} missing element {wanted} in Append result {v}");
        };
        let last = v.rfind(&wanted);
        assert_eq!(last, Some(offset), "duplicate element {wanted} in Append result");
        assert!(
            last_offset.is_none_or(|l| offset > l),
            "wrong order for element {wanted} in Append result"
        );
        last_offset = Some(offset);
    }
}

/// checkConcurrentAppends: for every client `i`, its first `counts[i]` elements are in `v`,
/// each once, in its order (clients interleave freely).
pub fn check_concurrent_appends(v: &str, counts: &[usize]) {
    for (i, &count) in counts.iter().enumerate() {
        check_clnt_appends(i, v, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(f).expect_err("the check fails");
        crate::panic_message(payload.as_ref())
    }

    #[test]
    fn a_complete_ordered_value_passes_and_element_1_is_not_found_inside_element_11() {
        let v: String = (0..12).map(|j| element(1, j)).collect();
        check_clnt_appends(1, &v, 12);
        let only_11 = element(1, 11);
        assert!(failure(move || check_clnt_appends(1, &only_11, 2)).contains("missing element x 1 0 y"));
    }

    #[test]
    fn a_missing_a_duplicated_and_a_misordered_element_each_fail_with_the_go_message() {
        let missing = element(0, 0);
        assert!(failure(move || check_clnt_appends(0, &missing, 2)).contains("0 missing element x 0 1 y"));
        let twice = format!("{}{}{}", element(0, 0), element(0, 1), element(0, 0));
        assert!(failure(move || check_clnt_appends(0, &twice, 2)).contains("duplicate element x 0 0 y"));
        let swapped = format!("{}{}", element(0, 1), element(0, 0));
        assert!(
            failure(move || check_clnt_appends(0, &swapped, 2)).contains("wrong order for element x 0 1 y")
        );
    }

    #[test]
    fn concurrent_appends_may_interleave_but_keep_each_clients_order() {
        let v = format!(
            "{}{}{}{}",
            element(1, 0),
            element(0, 0),
            element(1, 1),
            element(0, 1)
        );
        check_concurrent_appends(&v, &[2, 2]);
        let v2 = v.clone();
        assert!(
            failure(move || check_concurrent_appends(&v2, &[2, 3])).contains("1 missing element x 1 2 y")
        );
    }
}
