//! Property tests (fuzzing) of event identity: the dedup key and the output
//! ids are injective over (`source`, `id`), whatever characters they hold.
//! `scripts/fuzz.sh SECONDS` runs them with fresh seeds.

use proptest::prelude::*;

use super::identity;
use crate::outputs::output_id;

/// Strings rich in the characters an encoding could confuse: the separator,
/// the escape, digits and other controls, plus arbitrary text.
fn part() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(
            prop::sample::select(vec!['\u{0}', '\u{1}', '0', '1', 'a', '\n', '\u{7f}']),
            0..6
        )
        .prop_map(|chars| chars.into_iter().collect()),
        ".{0,8}",
    ]
}

proptest! {
    #[test]
    fn identities_and_output_ids_are_injective(
        a in (part(), part()),
        b in (part(), part()),
        index in 0usize..3,
    ) {
        prop_assume!(a != b);
        prop_assert_ne!(identity(&a.0, &a.1), identity(&b.0, &b.1));
        let id = |pair: &(String, String)| {
            output_id(&crate::event::test_event(&pair.0, &pair.1), index)
        };
        prop_assert_ne!(id(&a), id(&b));
    }
}
