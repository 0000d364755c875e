//! The Mann–Whitney U test (Wilcoxon rank-sum): two-sided, normal
//! approximation with tie and continuity corrections, as Kayenta's judge
//! and `scipy.stats.mannwhitneyu(..., method="asymptotic")` compute it,
//! over samples given one by one or as `(value, count)` groups.

use crate::metrics::Distribution;

/// The outcome of a Mann–Whitney U test of a candidate sample against a control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the candidate: the number of (control, candidate) pairs in which
    /// the candidate value is larger, ties counting one half. Above
    /// `n_control * n_candidate / 2`, the candidate tends to be higher.
    pub u: f64,
    /// The standardized statistic (0 when every value is tied).
    pub z: f64,
    /// Two-sided p-value of the null hypothesis "same distribution".
    pub p_value: f64,
}

impl MannWhitney {
    /// Whether the candidate tends to be higher than the control.
    pub fn candidate_higher(&self) -> bool {
        self.z > 0.0
    }
}

/// Tests `candidate` against `control`. `None` when a sample is empty or
/// holds a non-finite value.
pub fn mann_whitney(control: &[f64], candidate: &[f64]) -> Option<MannWhitney> {
    if control.iter().chain(candidate).any(|v| !v.is_finite()) {
        return None;
    }
    mann_whitney_of(
        &Distribution::of_values(control),
        &Distribution::of_values(candidate),
    )
}

/// [`mann_whitney`] of two distributions given as `(value, count)` groups,
/// so that every request of a run can be a sample without keeping them
/// one by one (a histogram's buckets are its groups; values within a
/// bucket are ties). `None` when a side is empty.
pub fn mann_whitney_of(control: &Distribution, candidate: &Distribution) -> Option<MannWhitney> {
    let (n1, n2) = (control.len() as f64, candidate.len() as f64);
    if n1 == 0.0 || n2 == 0.0 {
        return None;
    }
    // Walk both ascending group lists together: each distinct value is one
    // tie group, whose members share the average of their ranks.
    let (mut a, mut b) = (
        control.groups().iter().peekable(),
        candidate.groups().iter().peekable(),
    );
    let mut below = 0.0;
    let mut rank_sum = 0.0;
    let mut ties = 0.0;
    loop {
        let value = match (a.peek(), b.peek()) {
            (Some((x, _)), Some((y, _))) => x.min(*y),
            (Some((x, _)), None) => *x,
            (None, Some((y, _))) => *y,
            (None, None) => break,
        };
        let from_control = a
            .next_if(|(v, _)| *v == value)
            .map_or(0.0, |(_, c)| *c as f64);
        let from_candidate = b
            .next_if(|(v, _)| *v == value)
            .map_or(0.0, |(_, c)| *c as f64);
        let t = from_control + from_candidate;
        // Ranks below+1 ..= below+t share their average.
        rank_sum += from_candidate * (below + (t + 1.0) / 2.0);
        ties += t * t * t - t;
        below += t;
    }
    let total = n1 + n2;
    let u = rank_sum - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    if variance <= 0.0 {
        return Some(MannWhitney {
            u,
            z: 0.0,
            p_value: 1.0,
        });
    }
    let diff = u - mean;
    let corrected = diff.signum() * (diff.abs() - 0.5).max(0.0);
    let z = corrected / variance.sqrt();
    let p_value = erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0);
    Some(MannWhitney { u, z, p_value })
}

/// The complementary error function (Numerical Recipes' `erfcc`: a
/// Chebyshev fit with fractional error below 1.2e-7 everywhere).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn erfc_matches_tabulated_values() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_2),
            (1.0, 0.157_299_207_1),
            (2.0, 0.004_677_734_981),
            (-1.0, 1.842_700_792_9),
        ] {
            assert!(close(erfc(x), want, 2e-7 * want.max(1e-3)), "erfc({x})");
        }
    }

    #[test]
    fn complete_separation() {
        // U = 25 of 25 pairs; sigma^2 = 25 * 11 / 12; z = 12 / 4.787 = 2.5067.
        let r = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0])
            .unwrap_or_else(|| panic!("samples are valid"));
        assert_eq!(r.u, 25.0);
        assert!(close(r.z, 2.506_718, 1e-5), "{r:?}");
        assert!(close(r.p_value, 0.012_186, 1e-5), "{r:?}");
        assert!(r.candidate_higher());
    }

    #[test]
    fn textbook_example_small_u() {
        // Control 19 22 16 29 24, candidate 20 11 17 12: the candidate
        // beats the control in 3 pairs (20>19, 20>16, 17>16).
        let r = mann_whitney(&[19.0, 22.0, 16.0, 29.0, 24.0], &[20.0, 11.0, 17.0, 12.0])
            .unwrap_or_else(|| panic!("samples are valid"));
        assert_eq!(r.u, 3.0);
        assert!(close(r.z, -1.592_168, 1e-5), "{r:?}");
        assert!(close(r.p_value, 0.111_347, 1e-5), "{r:?}");
        assert!(!r.candidate_higher());
    }

    #[test]
    fn ties_shrink_the_variance() {
        // Ranks: 1 | 2,2,2 -> 3 | 4.. tie groups of 3 (value 2) and 4 (value 3).
        let r = mann_whitney(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0], &[2.0, 3.0, 4.0, 4.0, 5.0])
            .unwrap_or_else(|| panic!("samples are valid"));
        assert_eq!(r.u, 24.5);
        assert!(close(r.z, 1.702_222, 1e-5), "{r:?}");
        assert!(close(r.p_value, 0.088_714, 1e-5), "{r:?}");
        // A zero-heavy error-rate sample: significant despite the ties.
        let r = mann_whitney(&[0.0; 8], &[0.0, 0.05, 0.025, 0.0, 0.05, 0.075, 0.0, 0.025])
            .unwrap_or_else(|| panic!("samples are valid"));
        assert_eq!(r.u, 52.0);
        assert!(close(r.p_value, 0.012_583, 1e-5), "{r:?}");
    }

    #[test]
    fn groups_give_what_single_values_give() {
        let control = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0];
        let candidate = [2.0, 3.0, 4.0, 4.0, 5.0];
        let single = mann_whitney(&control, &candidate).unwrap_or_else(|| panic!("valid"));
        let grouped = mann_whitney_of(
            &Distribution::of_values(&control),
            &Distribution::of_values(&candidate),
        )
        .unwrap_or_else(|| panic!("valid"));
        assert_eq!(single, grouped);
        // 0/1 outcomes of many requests: 0 of 200 against 12 of 200.
        let r = mann_whitney_of(
            &Distribution::of_outcomes(0, 200),
            &Distribution::of_outcomes(12, 200),
        )
        .unwrap_or_else(|| panic!("valid"));
        assert!(r.candidate_higher() && r.p_value < 0.01, "{r:?}");
    }

    #[test]
    fn identical_and_invalid_samples() {
        let r = mann_whitney(&[3.0; 5], &[3.0; 7]).unwrap_or_else(|| panic!("valid"));
        assert_eq!((r.u, r.z, r.p_value), (17.5, 0.0, 1.0));
        let same = [1.0, 2.0, 3.0, 4.0];
        let r = mann_whitney(&same, &same).unwrap_or_else(|| panic!("valid"));
        assert_eq!(r.p_value, 1.0);
        assert!(mann_whitney(&[], &[1.0]).is_none());
        assert!(mann_whitney(&[f64::NAN], &[1.0]).is_none());
    }
}
