//! How far apart the runs of a CronJob schedule can be: the longest gap between two
//! consecutive runs, which the drift-check staleness alert doubles. Pure; the cron dialect is
//! the one Kubernetes CronJobs accept (five fields, `*`, lists, ranges, steps, month and day
//! names, `@hourly` … `@yearly`, a leading `CRON_TZ=`/`TZ=`; day of month and day of week
//! combine with OR when both are restricted, as in cron).

use chrono::{Datelike, Duration, NaiveDate};

/// Years scanned: long enough for `0 0 29 2 *` (leap days) to repeat.
const HORIZON_DAYS: i64 = 366 * 9;

struct Field {
    /// Bit `n` set: value `n` matches.
    bits: u64,
    /// The field was `*` (or `?`): unrestricted, for the day-of-month/day-of-week rule.
    star: bool,
}

fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Option<Field> {
    let value = |s: &str| -> Option<u32> {
        let lower = s.to_ascii_lowercase();
        match names.iter().position(|n| *n == lower) {
            Some(i) => Some(min + i as u32),
            None => s.parse().ok(),
        }
    };
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (low, high) = if range == "*" || range == "?" {
            star |= step == 1;
            (min, max)
        } else if let Some((low, high)) = range.split_once('-') {
            (value(low)?, value(high)?)
        } else {
            let low = value(range)?;
            // "5/15" means 5, 20, 35, 50: from 5 to the maximum.
            (low, if step > 1 { max } else { low })
        };
        if low < min || high > max || low > high {
            return None;
        }
        for v in (low..=high).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Some(Field { bits, star })
}

/// The longest time between two consecutive runs of `schedule`, or None when it does not
/// parse or runs fewer than twice in nine years.
pub fn longest_gap(schedule: &str) -> Option<Duration> {
    let mut text = schedule.trim();
    if text.starts_with("CRON_TZ=") || text.starts_with("TZ=") {
        text = text.split_once(' ')?.1.trim();
    }
    let expanded = match text {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return None;
    };
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let minute = field(minute, 0, 59, &[])?;
    let hour = field(hour, 0, 23, &[])?;
    let dom = field(dom, 1, 31, &[])?;
    let month = field(month, 1, 12, MONTHS)?;
    let mut dow = field(dow, 0, 7, DAYS)?;
    // 7 is Sunday too.
    if dow.bits & (1 << 7) != 0 {
        dow.bits |= 1;
    }
    // Minutes of the day that run, in order.
    let times: Vec<i64> = (0..24)
        .filter(|h| hour.bits & (1 << h) != 0)
        .flat_map(|h| {
            (0..60)
                .filter(|m| minute.bits & (1u64 << m) != 0)
                .map(move |m| h * 60 + m)
        })
        .collect();
    let (first, last) = (*times.first()?, *times.last()?);
    let within_day = times.windows(2).map(|w| w[1] - w[0]).max();

    let start = NaiveDate::from_ymd_opt(2026, 1, 1)?;
    let mut longest: Option<i64> = None;
    let mut previous_day: Option<i64> = None;
    for day in 0..HORIZON_DAYS {
        let date = start + Duration::days(day);
        let day_of_month = dom.bits & (1 << date.day()) != 0;
        let day_of_week = dow.bits & (1 << date.weekday().num_days_from_sunday()) != 0;
        let day_matches = if dom.star || dow.star {
            day_of_month && day_of_week
        } else {
            day_of_month || day_of_week
        };
        if !(day_matches && month.bits & (1 << date.month()) != 0) {
            continue;
        }
        if let Some(previous) = previous_day {
            let gap = (day - previous) * 1440 + first - last;
            longest = longest.max(Some(gap));
        }
        longest = longest.max(within_day);
        previous_day = Some(day);
    }
    longest.map(Duration::minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(schedule: &str) -> Option<i64> {
        longest_gap(schedule).map(|d| d.num_minutes())
    }

    #[test]
    fn common_schedules() {
        assert_eq!(gap("0 */6 * * *"), Some(6 * 60));
        assert_eq!(gap("*/15 * * * *"), Some(15));
        assert_eq!(gap("* * * * *"), Some(1));
        assert_eq!(gap("0 3 * * 0"), Some(7 * 1440));
        assert_eq!(gap("@daily"), Some(1440));
        assert_eq!(gap("@hourly"), Some(60));
        assert_eq!(gap("CRON_TZ=Europe/Paris 30 2 * * *"), Some(1440));
        // Uneven: 02:00 and 20:00 leave 18 hours from 02:00 to 20:00.
        assert_eq!(gap("0 2,20 * * *"), Some(18 * 60));
        // Weekdays at 09:00: Friday to Monday.
        assert_eq!(gap("0 9 * * mon-fri"), Some(3 * 1440));
        assert_eq!(gap("0 9 * * 1-5"), Some(3 * 1440));
        // Monthly on the 1st: 31 days at most (January, March, ...).
        assert_eq!(gap("@monthly"), Some(31 * 1440));
        // 5/20 is 5, 25, 45.
        assert_eq!(gap("5/20 * * * *"), Some(20));
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // The 1st of the month OR any Monday: never more than a week apart.
        assert_eq!(gap("0 0 1 * 1"), Some(7 * 1440));
        // Sunday as 7.
        assert_eq!(gap("0 0 * * 7"), Some(7 * 1440));
    }

    #[test]
    fn rare_and_invalid_schedules() {
        // Leap days: 2028, 2032 (four years, one of them a leap year).
        assert_eq!(gap("0 0 29 2 *"), Some((3 * 365 + 366) * 1440));
        assert_eq!(gap("0 0 30 2 *"), None, "never runs");
        assert_eq!(gap("0 0 1 1 *"), Some(366 * 1440));
        for bad in [
            "",
            "0 * * *",
            "61 * * * *",
            "*/0 * * * *",
            "0 0 * * funday",
            "5-1 * * * *",
        ] {
            assert_eq!(gap(bad), None, "{bad:?}");
        }
    }
}
