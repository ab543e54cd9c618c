"""Adoption map: which early behaviours go with accounts that succeed, when, and how fast.

This package is the statistics core of the adoption map (issue 11). Every public function takes
polars frames (the canonical tables of ``ingest.tables``, or the output of another function
here) and returns polars frames; no files, no MLflow, no plotting. The ``decay-map`` app wires
them to config, pages and nudges.

Package map, in the order a pipeline calls it:

``adoption.timeline``       each account's clock: start (``accounts.created_at``), days observed,
                            churn day (``churned_at`` or an inactivity rule), left truncation;
                            milestone days; a "still active at the horizon" outcome helper.
``adoption.candidates``     candidate early behaviours per account, each a yes/no statement
                            about its first D days (milestones, "did X at least N times",
                            users added, roles active), with thresholds taken from the data.
``adoption.landmark``       which behaviours go with success: rates, differences, ratios,
                            intervals, p- and q-values, segment shrinkage, replication, wording.
``adoption.time_to_value``  how fast milestones are reached: cumulative incidence with churn as
                            a competing risk, medians, shares by day 30/60/90.
``adoption.journey``        when milestones happen, which roles do them, which events cluster
                            just before and after them.
``adoption.cohorts``        activation and time to value by signup month: is it moving?
``adoption.progress``       point in time at a cutoff: milestones reached, "k of n steps", the
                            next step, how late the account is, what its peers did recently.

Time is counted in UTC calendar days since the account's start (day 0 = the start day), and
"within D days" always means days 0 to D-1.

The statistical choices, in plain words:

* **Goes with, not causes.** Everything here compares accounts that did something with accounts
  that did not. Accounts that choose to do X may differ in many other ways, so a finding says
  "accounts that did X went on to succeed more often", never "X makes accounts succeed". Use
  the findings to choose what to try, and test the nudge itself.
* **Landmarks against immortal-time bias.** "Ever did X" flatters X: accounts that live longer
  have more time to do anything, and living longer is success. So each behaviour is judged at a
  fixed landmark day D: only accounts still active and observed at D are compared, on what they
  did before D. ``tests/adoption/test_immortal_time.py`` shows a behaviour with no effect that
  looks strong the naive way and is not flagged by the landmark.
* **Left truncation.** Accounts that started before the log have lost their early days; they
  are excluded from the analyses (and counted), not treated as slow starters.
* **Competing risks.** An account that churns can no longer reach a milestone. The share
  reaching it over time is the Aalen–Johansen cumulative incidence with churn as a competing
  event (scikit-survival), not 1 - Kaplan–Meier, which would pretend churned accounts might
  still get there. When many churn first, the median time may not exist; it is then null.
* **Intervals everywhere.** Wilson intervals for rates, Newcombe for differences, a Katz log
  interval for ratios (statsmodels); p-values from the score test, or Fisher's exact test for
  small tables.
* **Many comparisons.** Dozens of behaviours times segments will throw up chance findings;
  q-values control the false discovery rate (Benjamini–Hochberg) across all of them, and only
  those are flagged ``significant``.
* **Shrinkage.** Small segments give noisy estimates. Each segment's estimate is pulled toward
  the overall one, the more the noisier it is (empirical Bayes with the between-segment spread
  estimated from the data), and reported next to the raw one.
* **Replication.** A finding is more believable when it holds again in accounts that signed up
  later; ``replicate`` splits by signup date and checks the later cohort on its own.
* **No look-ahead for nudges.** ``adoption.progress`` sees only events before its cutoff and
  takes the reference curve as an argument estimated on earlier data.
"""
