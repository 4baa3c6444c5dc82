//! A queue as a sequence: indexing, ordered iteration, reverse and rotate.

use diskcache_shard::{Cache, Side};

fn items(
    cache: &Cache,
    prefix: Option<&str>,
    side: Side,
) -> Result<Vec<i32>, diskcache_shard::Error> {
    cache
        .queue_iter(prefix, side)
        .map(|r| r.map(|x| x.1))
        .collect()
}

#[test]
fn indexing_iteration_reverse_and_rotate() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    for i in 0..250 {
        cache.push(&i, Some("q"), Side::Back)?;
    }
    cache.push(&-1, Some("q"), Side::Front)?;
    // Other keys and another queue are never touched.
    cache.set("other", &7)?;
    cache.push(&1000, None, Side::Back)?;
    // A gap in the middle.
    let (key, _) = cache
        .queue_get::<i32>(Some("q"), Side::Front, 10)?
        .ok_or("no item 10")?;
    assert!(cache.delete(&key)?);

    let mut expected: Vec<i32> = std::iter::once(-1)
        .chain(0..250)
        .filter(|&i| i != 9)
        .collect();
    assert_eq!(items(&cache, Some("q"), Side::Front)?, expected);
    let mut back = expected.clone();
    back.reverse();
    assert_eq!(items(&cache, Some("q"), Side::Back)?, back);
    assert_eq!(
        cache
            .queue_get::<i32>(Some("q"), Side::Back, 1)?
            .map(|x| x.1),
        Some(248)
    );

    cache.queue_reverse(Some("q"))?;
    expected.reverse();
    assert_eq!(items(&cache, Some("q"), Side::Front)?, expected);

    cache.queue_rotate(Some("q"), -3)?;
    expected.rotate_left(3);
    assert_eq!(items(&cache, Some("q"), Side::Front)?, expected);
    cache.queue_rotate(Some("q"), 1000)?;
    let len = expected.len();
    expected.rotate_right(1000 % len);
    assert_eq!(items(&cache, Some("q"), Side::Front)?, expected);

    // Pushing and pulling still work at both ends after re-keying.
    cache.push(&5000, Some("q"), Side::Back)?;
    assert_eq!(
        cache.pull::<i32>(Some("q"), Side::Back)?.map(|x| x.1),
        Some(5000)
    );
    assert_eq!(
        cache.pull::<i32>(Some("q"), Side::Front)?.map(|x| x.1),
        Some(expected[0])
    );
    assert_eq!(cache.get::<i32>("other")?, Some(7));
    assert_eq!(items(&cache, None, Side::Front)?, vec![1000]);
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
