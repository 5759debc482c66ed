//! Summing rollup slots and completions into bucketed task metrics: counts per bucket, open
//! counts at each bucket's end (the sum of every change before it), nearest-rank medians and
//! 85th percentiles of the cycle and lead times of the completions in the bucket.

use super::buckets::{Bucket, index};

/// One quarter hour of task flow (sums over the projects in scope).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Start of the quarter hour.
    pub slot: i64,
    /// Tasks created.
    pub created: i64,
    /// Completions.
    pub completed: i64,
    /// Reopenings.
    pub reopened: i64,
    /// Comments added.
    pub comments: i64,
    /// Work logged (deleted logs subtracted).
    pub work_logged_ms: i64,
    /// Document versions uploaded.
    pub uploads: i64,
    /// Change to the open backlog count.
    pub backlog_delta: i64,
    /// Change to the open todo count.
    pub todo_delta: i64,
    /// Change to the open in-progress count.
    pub in_progress_delta: i64,
}

/// One completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// When.
    pub at: i64,
    /// Created → completed.
    pub lead_ms: i64,
    /// First in progress → completed; none for a task never in progress.
    pub cycle_ms: Option<i64>,
}

/// The metrics of one bucket (or of the whole range).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    /// The bucket.
    pub start: i64,
    /// Its end.
    pub end: i64,
    /// Sums of the bucket's slots (open deltas unused here).
    pub counts: Slot,
    /// Open backlog tasks at the end.
    pub backlog: i64,
    /// Open todo tasks at the end.
    pub todo: i64,
    /// Open in-progress tasks at the end.
    pub in_progress: i64,
    /// Completions per day.
    pub throughput_per_day: f64,
    /// Median cycle time.
    pub median_cycle_ms: Option<i64>,
    /// 85th-percentile cycle time.
    pub p85_cycle_ms: Option<i64>,
    /// Median lead time.
    pub median_lead_ms: Option<i64>,
    /// 85th-percentile lead time.
    pub p85_lead_ms: Option<i64>,
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of `values` (sorted here).
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (u64::from(p) * values.len() as u64).div_ceil(100).max(1);
    values.get(usize::try_from(rank - 1).ok()?).copied()
}

fn add(into: &mut Slot, slot: &Slot) {
    into.created += slot.created;
    into.completed += slot.completed;
    into.reopened += slot.reopened;
    into.comments += slot.comments;
    into.work_logged_ms += slot.work_logged_ms;
    into.uploads += slot.uploads;
    into.backlog_delta += slot.backlog_delta;
    into.todo_delta += slot.todo_delta;
    into.in_progress_delta += slot.in_progress_delta;
}

fn finish(point: &mut Point, completions: &[&Completion]) {
    let mut cycles: Vec<i64> = completions.iter().filter_map(|c| c.cycle_ms).collect();
    let mut leads: Vec<i64> = completions.iter().map(|c| c.lead_ms).collect();
    point.median_cycle_ms = percentile(&mut cycles, 50);
    point.p85_cycle_ms = percentile(&mut cycles, 85);
    point.median_lead_ms = percentile(&mut leads, 50);
    point.p85_lead_ms = percentile(&mut leads, 85);
    // Completions are counted from their rows (exact at any range boundary).
    point.counts.completed = completions.len() as i64;
    let days = Bucket {
        start: point.start,
        end: point.end,
    }
    .days();
    point.throughput_per_day = if days > 0.0 {
        point.counts.completed as f64 / days
    } else {
        0.0
    };
}

/// The points of `buckets` and the total over them, from the open counts before the range
/// (`base`: the summed slots before it), the slots within it and its completions.
pub fn points(
    buckets: &[Bucket],
    base: &Slot,
    slots: &[Slot],
    completions: &[Completion],
) -> (Vec<Point>, Point) {
    let mut points: Vec<Point> = buckets
        .iter()
        .map(|bucket| Point {
            start: bucket.start,
            end: bucket.end,
            ..Point::default()
        })
        .collect();
    for slot in slots {
        if let Some(i) = index(buckets, slot.slot) {
            add(&mut points[i].counts, slot);
        }
    }
    let mut open = *base;
    for point in &mut points {
        open.backlog_delta += point.counts.backlog_delta;
        open.todo_delta += point.counts.todo_delta;
        open.in_progress_delta += point.counts.in_progress_delta;
        point.backlog = open.backlog_delta;
        point.todo = open.todo_delta;
        point.in_progress = open.in_progress_delta;
    }
    let mut by_bucket: Vec<Vec<&Completion>> = vec![Vec::new(); buckets.len()];
    for completion in completions {
        if let Some(i) = index(buckets, completion.at) {
            by_bucket[i].push(completion);
        }
    }
    for (point, completions) in points.iter_mut().zip(&by_bucket) {
        finish(point, completions);
    }
    let mut total = Point {
        start: buckets.first().map_or(0, |b| b.start),
        end: buckets.last().map_or(0, |b| b.end),
        ..Point::default()
    };
    for point in &points {
        add(&mut total.counts, &point.counts);
    }
    if let Some(last) = points.last() {
        (total.backlog, total.todo, total.in_progress) =
            (last.backlog, last.todo, last.in_progress);
    }
    let all: Vec<&Completion> = by_bucket.iter().flatten().copied().collect();
    finish(&mut total, &all);
    (points, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&mut [], 50), None);
        assert_eq!(percentile(&mut [7], 85), Some(7));
        assert_eq!(percentile(&mut [4, 1, 3, 2], 50), Some(2));
        let mut ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&mut ten, 85), Some(9));
        assert_eq!(percentile(&mut ten, 50), Some(5));
    }

    #[test]
    fn open_counts_carry_across_buckets() {
        let buckets = [
            Bucket { start: 0, end: 100 },
            Bucket {
                start: 100,
                end: 200,
            },
        ];
        let base = Slot {
            todo_delta: 2,
            ..Slot::default()
        };
        let slots = [
            Slot {
                slot: 10,
                created: 1,
                todo_delta: 1,
                ..Slot::default()
            },
            Slot {
                slot: 150,
                todo_delta: -1,
                in_progress_delta: 1,
                ..Slot::default()
            },
        ];
        let completions = [Completion {
            at: 160,
            lead_ms: 50,
            cycle_ms: None,
        }];
        let (points, total) = points(&buckets, &base, &slots, &completions);
        assert_eq!((points[0].todo, points[0].in_progress), (3, 0));
        assert_eq!((points[1].todo, points[1].in_progress), (2, 1));
        assert_eq!(
            (total.counts.created, total.counts.completed, total.todo),
            (1, 1, 2)
        );
        assert_eq!(
            (points[1].median_lead_ms, points[1].median_cycle_ms),
            (Some(50), None)
        );
    }
}
