//! Index: mapping operations, insertion order both ways, popitem, memoize,
//! extend, equality.

use std::collections::BTreeMap;

use diskcache::{Index, Side};

#[test]
fn index_is_an_ordered_persistent_mapping() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let index: Index<String, u32> = Index::open(dir.path())?;
    for (i, name) in ["c", "a", "b"].iter().enumerate() {
        index.insert(&name.to_string(), &(i as u32))?;
    }
    // Re-inserting keeps the original position.
    index.insert(&"c".into(), &10)?;
    let keys: Vec<String> = index.keys().collect::<Result<_, _>>()?;
    assert_eq!(keys, ["c", "a", "b"]);
    let rev: Vec<(String, u32)> = index.items_rev().collect::<Result<_, _>>()?;
    assert_eq!(rev, [("b".into(), 2), ("a".into(), 1), ("c".into(), 10)]);
    let values: Vec<u32> = index.values().collect::<Result<_, _>>()?;
    assert_eq!(values, [10, 1, 2]);
    let values_rev: Vec<u32> = index.values_rev().collect::<Result<_, _>>()?;
    assert_eq!(values_rev, [2, 1, 10]);

    assert!(index.contains(&"a".into())?);
    assert_eq!(index.setdefault(&"a".into(), &99)?, 1);
    assert_eq!(index.setdefault(&"d".into(), &4)?, 4);
    let mut computed = 0;
    assert_eq!(
        index.memoize(&"e".into(), || {
            computed += 1;
            5
        })?,
        5
    );
    assert_eq!(
        index.memoize(&"e".into(), || {
            computed += 1;
            6
        })?,
        5
    );
    assert_eq!(computed, 1);

    assert_eq!(index.peekitem(false)?, Some(("c".into(), 10)));
    assert_eq!(index.popitem(true)?, Some(("e".into(), 5)));
    assert_eq!(index.popitem(false)?, Some(("c".into(), 10)));
    assert_eq!(index.pop(&"d".into())?, Some(4));
    assert!(!index.remove(&"d".into())?);

    let model: BTreeMap<String, u32> = [("a".into(), 1), ("b".into(), 2)].into();
    assert!(index.eq_entries(model.clone())?);
    assert!(!index.eq_entries([("a".to_string(), 1)])?);
    let other: Index<String, u32> = Index::open(dir.path().join("other"))?;
    other.extend(&model)?;
    assert!(index.eq_index(&other)?);

    // Queue helpers live beside the mapping.
    index.push(&7, Some("q"), Side::Back)?;
    assert_eq!(index.pull(Some("q"), Side::Front)?.map(|x| x.1), Some(7));
    drop(index);
    let again: Index<String, u32> = Index::open(dir.path())?;
    assert_eq!(again.len()?, 2);
    Ok(())
}
