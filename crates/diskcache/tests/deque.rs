//! Deque: both ends, indexing, iteration, count and contains, remove,
//! reverse, rotate, maxlen.

use diskcache::{Deque, Error};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn all(d: &Deque<i32>) -> Result<Vec<i32>, Error> {
    d.iter().collect()
}

#[test]
fn deque_behaves_like_vecdeque() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d: Deque<i32> = Deque::open(dir.path())?;
    let mut model = std::collections::VecDeque::new();
    for i in 0..20 {
        if i % 3 == 0 {
            d.append_left(&i)?;
            model.push_front(i);
        } else {
            d.append(&i)?;
            model.push_back(i);
        }
    }
    assert_eq!(all(&d)?, Vec::from(model.clone()));
    assert_eq!(d.len()?, 20);
    assert_eq!(d.get(0)?, model.front().copied());
    assert_eq!(d.get(-1)?, model.back().copied());
    assert_eq!(d.get(5)?, model.get(5).copied());
    assert_eq!(d.get(-3)?, model.get(17).copied());
    assert_eq!(d.get(20)?, None);
    assert_eq!(d.get(-21)?, None);

    assert!(d.set(2, &100)?);
    model[2] = 100;
    assert!(!d.set(99, &1)?);
    assert_eq!(d.remove_at(-2)?, model.remove(18));
    assert!(d.remove(&100)?);
    model.retain(|&x| x != 100);
    assert!(!d.remove(&12345)?);
    d.append(&7)?;
    model.push_back(7);
    for probe in [7, 3, 100, 12345] {
        let want = model.iter().filter(|&&x| x == probe).count() as u64;
        assert_eq!(d.count(&probe)?, want, "count of {probe}");
        assert_eq!(d.contains(&probe)?, want > 0, "contains {probe}");
    }
    assert_eq!(all(&d)?, Vec::from(model.clone()));

    d.reverse()?;
    model.make_contiguous().reverse();
    assert_eq!(all(&d)?, Vec::from(model.clone()));
    d.rotate(3)?;
    model.rotate_right(3);
    d.rotate(-5)?;
    model.rotate_left(5);
    assert_eq!(all(&d)?, Vec::from(model.clone()));
    let rev: Vec<i32> = d.iter_rev().collect::<Result<_, _>>()?;
    assert_eq!(rev, model.iter().rev().copied().collect::<Vec<_>>());

    assert_eq!(d.pop()?, model.pop_back());
    assert_eq!(d.pop_left()?, model.pop_front());
    assert_eq!(d.peek()?, model.back().copied());
    assert_eq!(d.peek_left()?, model.front().copied());
    d.extend([7, 8].iter())?;
    d.extend_left([1, 2].iter())?;
    model.extend([7, 8]);
    model.push_front(1);
    model.push_front(2);
    assert_eq!(all(&d)?, Vec::from(model.clone()));
    assert_eq!(d.clear()?, model.len() as u64);
    assert!(d.is_empty()? && d.pop()?.is_none());
    Ok(())
}

#[test]
fn maxlen_drops_from_the_other_end() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d: Deque<i32> = Deque::open(dir.path())?;
    for i in 0..10 {
        d.append(&i)?;
    }
    let d = d.with_maxlen(5)?;
    assert_eq!(all(&d)?, vec![5, 6, 7, 8, 9], "trimmed from the front");
    d.append(&10)?;
    assert_eq!(all(&d)?, vec![6, 7, 8, 9, 10]);
    d.append_left(&0)?;
    assert_eq!(all(&d)?, vec![0, 6, 7, 8, 9]);
    Ok(())
}

#[test]
fn a_deque_survives_reopening_and_transacts() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let d: Deque<String> = Deque::open(dir.path())?;
        let failed: Result<(), Error> = d.transact(|| {
            d.append(&"lost".to_string())?;
            Err(Error::NotFound)
        });
        assert!(failed.is_err());
        d.append(&"kept".to_string())?;
    }
    let d: Deque<String> = Deque::open(dir.path())?;
    assert_eq!(
        d.iter().collect::<Result<Vec<_>, _>>()?,
        vec!["kept".to_string()]
    );
    Ok(())
}
