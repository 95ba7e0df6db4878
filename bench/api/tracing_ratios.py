"""What wrk_tracing.sh and wrk_customer_tracing.sh print from their rounds (imported by
their summaries, with this folder on PYTHONPATH)."""
import statistics as st


def rounds(arg):
    """The rounds of one variant: "A B C,A B C,..." -> [(A, B, C), ...]."""
    return [tuple(float(v) for v in r.split()) for r in arg.split(",") if r]


def ratio(label, a, b, q, target=None):
    """The median of the per-round ratios a[q] / b[q], with its range, against a target
    (">=", bound) or ("<=", bound) when given."""
    r = [x[q] / y[q] for x, y in zip(a, b)]
    m = st.median(r)
    verdict = ""
    if target:
        op, bound = target
        ok = m >= bound if op == ">=" else m <= bound
        verdict = f"  target {op} {bound:.2f}: {'holds' if ok else 'MISSED'}"
    print(f"{label:22s} median {m:.3f}  (min {min(r):.3f}, max {max(r):.3f}, rounds {len(r)}){verdict}")
