//! push/pull/peek/peekitem on the integer queue and on prefixed queues.

use std::time::Duration;

use diskcache_shard::{Cache, Key, SetOptions, Side};

#[test]
fn queues_follow_python_diskcache_numbering() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.pull::<i32>(None, Side::Front)?, None);
    for i in 0..5 {
        cache.push(&i, None, Side::Back)?;
    }
    assert_eq!(
        cache.push(&-1, None, Side::Front)?,
        Key::Int(499_999_999_999_999)
    );
    assert_eq!(
        cache.peek::<i32>(None, Side::Back)?,
        Some((Key::Int(500_000_000_000_004), 4))
    );
    let mut seen = Vec::new();
    while let Some((_, v)) = cache.pull::<i32>(None, Side::Front)? {
        seen.push(v);
        assert!(seen.len() <= 6);
    }
    assert_eq!(seen, vec![-1, 0, 1, 2, 3, 4]);

    // Prefixed queues are separate from each other and from other keys.
    cache.set("unrelated", &0)?;
    cache.push(&"a", Some("jobs"), Side::Back)?;
    cache.push(&"b", Some("jobs"), Side::Back)?;
    cache.push(&"x", Some("other"), Side::Back)?;
    assert_eq!(
        cache.pull::<String>(Some("jobs"), Side::Back)?,
        Some((Key::Text("jobs-500000000000001".into()), "b".into()))
    );
    assert_eq!(
        cache.pull::<String>(Some("jobs"), Side::Back)?.map(|x| x.1),
        Some("a".into())
    );
    assert_eq!(cache.pull::<String>(Some("jobs"), Side::Back)?, None);
    assert_eq!(cache.len()?, 2);
    Ok(())
}

#[test]
fn expired_items_are_skipped_and_removed() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().cull_limit(0).open(dir.path())?;
    let quick = SetOptions::new().expire(Duration::from_millis(1));
    cache.push_with(&1, None, Side::Back, &quick)?;
    cache.push_with(&2, None, Side::Back, &quick)?;
    cache.push(&3, None, Side::Back)?;
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(cache.peek::<i32>(None, Side::Front)?.map(|x| x.1), Some(3));
    assert_eq!(cache.len()?, 1);
    cache.set("later", &9)?;
    assert_eq!(cache.peekitem::<i32>(false)?.map(|x| x.1), Some(3));
    assert_eq!(cache.peekitem::<i32>(true)?.map(|x| x.1), Some(9));
    Ok(())
}
