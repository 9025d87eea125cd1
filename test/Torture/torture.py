#!/usr/bin/python3
"""Numerical torture driver for every CPU lowering of kvshift.

Runs kvshift.kv_shift_attention (the forward) and
kvshift.kv_shift_attention_grad (the gradient) through `kvshift-run` with
each CPU pipeline, kvshift-to-llvm-cpu (the reference lowering) and
kvshift-to-llvm-cpu-fused (the fused flash-attention kernel, kvshift-run's
default), and checks the results against the float64 NumPy reference of
test/Integration/kvshift_ref.py. /usr/bin/python3 and NumPy only.

Modes (each prints one PASS/FAIL line per check and exits 1 on any FAIL):

  random SEED...        random shapes: B in 1..3, Hkv in 1..3, G in 1..4,
                        Sq, Sk in {1,2,3,5,7,13,31,61,64,65,97,128,131} (Sq <= Sk
                        when causal), D in {1,2,3,5,7,8,13,16,17,31,64,67},
                        causal or not, default or explicit scale, weights of
                        every kind; forward and gradient, f32, through every
                        pipeline (some seeds also through the fused pipeline
                        with unusual tile sizes). Even seeds run forward and
                        gradient in one function (the fused pipeline then
                        shares the forward's statistics with the gradient);
                        odd seeds run them as two separate programs.
                        Forward: normwise error <= 1e-5; gradient: the rules
                        of test/Integration/run_grad.py (1e-5 normwise, or
                        against the size of the terms for vanishing gradients).
  extreme CASE...       extreme but finite inputs (`extreme --list`).
  nonfinite CASE...     NaN/Inf in one input element (`nonfinite --list`).
  determinism CASE...   bit-identical outputs run to run and across
                        OMP_NUM_THREADS (`determinism --list`).

See README.md next to this file for the tolerances, their justification and
the measured behaviour of each pipeline.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "Integration"))
import kvshift_ref as ref  # noqa: E402
from run_grad import grad_error, grad_magnitude  # noqa: E402  (run_grad's rules)

REF_PIPE = "kvshift-to-llvm-cpu"
FUSED_PIPE = "kvshift-to-llvm-cpu-fused"
PIPELINES = [p for p in os.environ.get(
    "KVSHIFT_TEST_PIPELINES", REF_PIPE + ";" + FUSED_PIPE).split(";") if p]
GRADS = ("dq", "dk", "dv", "dkw", "dvw")
U = 2.0 ** -24                      # unit roundoff of f32
FLT_MAX = float(np.finfo(np.float32).max)
FWD_TOL = 1e-5                      # f32 forward, normwise (as test/Integration)
GRAD_TOL = 1e-5                     # f32 gradient, run_grad.py's default
TIMEOUT = float(os.environ.get("KVSHIFT_TORTURE_TIMEOUT", "60"))  # s per kvshift-run

S_CHOICES = (1, 2, 3, 5, 7, 13, 31, 61, 64, 65, 97, 128, 131)
D_CHOICES = (1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 64, 67)

FAILURES = []
EXTREME = {}        # name -> function, filled by the decorators below
NONFINITE = {}
DETERMINISM = {}


def report(ok, text):
    print("%s %s" % ("PASS" if ok else "FAIL", text))
    sys.stdout.flush()
    if not ok:
        FAILURES.append(text)
    return ok


# ---------------------------------------------------------------------------
# Programs and the tool
# ---------------------------------------------------------------------------

class Case:
    """One problem: shapes, attributes and the float32 inputs."""

    def __init__(self, name, q, k, v, kw, vw, dout=None, scale=None, causal=False,
                 rope_theta=None):
        self.name = name
        self.rope_theta = None if rope_theta is None else float(np.float32(rope_theta))
        self.q, self.k, self.v = (np.ascontiguousarray(x, np.float32) for x in (q, k, v))
        self.kw = np.ascontiguousarray(kw, np.float32)
        self.vw = np.ascontiguousarray(vw, np.float32)
        self.dout = None if dout is None else np.ascontiguousarray(dout, np.float32)
        self.scale = None if scale is None else float(np.float32(scale))
        self.causal = causal
        self.B, self.Hq, self.Sq, self.D = self.q.shape
        self.Hkv, self.Sk = self.k.shape[1], self.k.shape[2]
        self.G = self.Hq // self.Hkv

    def eff_scale(self):
        return 1.0 / np.sqrt(self.D) if self.scale is None else self.scale

    def shape_text(self):
        s = "B%d Hq%d Hkv%d Sq%d Sk%d D%d" % (self.B, self.Hq, self.Hkv, self.Sq,
                                             self.Sk, self.D)
        if self.causal:
            s += " causal"
        if self.scale is not None:
            s += " scale=%g" % self.scale
        if self.rope_theta is not None:
            s += " rope=%g" % self.rope_theta
        return s

    # float64 references on the exact values the tool sees.
    def ref_forward(self):
        return ref.kv_shift_attention(*self.args64(), scale=self.scale, causal=self.causal,
                                      rope_theta=self.rope_theta)

    def ref_grad(self):
        return ref.kv_shift_attention_grad(*self.args64(), self.dout.astype(np.float64),
                                           scale=self.scale, causal=self.causal,
                                           rope_theta=self.rope_theta)

    def grad_mag(self):
        return grad_magnitude(*self.args64(), self.dout.astype(np.float64),
                              scale=self.scale, causal=self.causal,
                              rope_theta=self.rope_theta)

    def args64(self):
        return tuple(x.astype(np.float64) for x in (self.q, self.k, self.v, self.kw, self.vw))


def _ttype(shape):
    return "tensor<%sxf32>" % "x".join(str(s) for s in shape)


def program(c, kind):
    """MLIR text of `func.func @main`. kind: 'fwd' (q, k, v, kw, vw -> out),
    'grad' (q, k, v, kw, vw, dout -> dq, dk, dv, dkw, dvw) or 'both' (the same
    arguments as 'grad' -> out, dq, dk, dv, dkw, dvw)."""
    qt, kt = _ttype(c.q.shape), _ttype(c.k.shape)
    wt = _ttype(c.kw.shape)
    attrs = ""
    if c.causal:
        attrs += " causal"
    if c.scale is not None:
        attrs += " scale = %.9e" % c.scale
    if c.rope_theta is not None:
        attrs += " rope_theta = %.9e" % c.rope_theta
    args = "%%q: %s, %%k: %s, %%v: %s, %%kw: %s, %%vw: %s" % (qt, kt, kt, wt, wt)
    fin = "(%s, %s, %s, %s, %s)" % (qt, kt, kt, wt, wt)
    gin = "(%s, %s, %s, %s, %s, %s)" % (qt, kt, kt, wt, wt, qt)
    gout = "(%s, %s, %s, %s, %s)" % (qt, kt, kt, wt, wt)
    fwd = ("  %%o = kvshift.kv_shift_attention %%q, %%k, %%v mix(%%kw, %%vw)%s\n"
           "      : %s -> %s\n" % (attrs, fin, qt))
    grad = ("  %%dq, %%dk, %%dv, %%dkw, %%dvw = kvshift.kv_shift_attention_grad "
            "%%q, %%k, %%v mix(%%kw, %%vw) dout(%%do)%s\n      : %s\n      -> %s\n"
            % (attrs, gin, gout))
    if kind == "fwd":
        return ("func.func @main(%s) -> %s {\n%s  return %%o : %s\n}\n"
                % (args, qt, fwd, qt))
    args += ", %%do: %s" % qt
    if kind == "grad":
        return ("func.func @main(%s)\n    -> %s {\n%s"
                "  return %%dq, %%dk, %%dv, %%dkw, %%dvw : %s, %s, %s, %s, %s\n}\n"
                % (args, gout, grad, qt, kt, kt, wt, wt))
    return ("func.func @main(%s)\n    -> (%s, %s, %s, %s, %s, %s) {\n%s%s"
            "  return %%o, %%dq, %%dk, %%dv, %%dkw, %%dvw : %s, %s, %s, %s, %s, %s\n}\n"
            % (args, qt, qt, kt, kt, wt, wt, fwd, grad, qt, qt, kt, kt, wt, wt))


def find_tool():
    d = os.environ.get("KVSHIFT_TOOLS_DIR")
    if d and os.access(os.path.join(d, "kvshift-run"), os.X_OK):
        return os.path.join(d, "kvshift-run")
    p = shutil.which("kvshift-run")
    if p:
        return p
    p = os.path.join(HERE, os.pardir, os.pardir, "build", "bin", "kvshift-run")
    return p if os.access(p, os.X_OK) else None


class Run:
    """The outcome of one kvshift-run process."""
    ok = False
    rc = None
    timed_out = False
    stderr = ""
    wall = 0.0
    outs = None        # list of numpy arrays
    raw = None         # list of the .npy files' bytes


def run_tool(c, kind, pipeline, threads=None, timeout=TIMEOUT):
    tool = find_tool()
    r = Run()
    if not tool:
        r.stderr = "kvshift-run not found (set KVSHIFT_TOOLS_DIR or PATH)"
        return r
    tmp = tempfile.mkdtemp(prefix="kvshift-torture-")
    try:
        src = os.path.join(tmp, "case.mlir")
        with open(src, "w") as f:
            f.write(program(c, kind))
        ins = [c.q, c.k, c.v, c.kw, c.vw] + ([c.dout] if kind != "fwd" else [])
        nout = {"fwd": 1, "grad": 5, "both": 6}[kind]
        cmd = [tool, src, "--entry=main", "--pipeline=" + pipeline]
        for n, a in enumerate(ins):
            p = os.path.join(tmp, "in%d.npy" % n)
            np.save(p, a)
            cmd.append("--input=" + p)
        outp = [os.path.join(tmp, "out%d.npy" % n) for n in range(nout)]
        cmd += ["--output=" + p for p in outp]
        env = dict(os.environ)
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
        t0 = time.time()
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            r.timed_out = True
            r.wall = time.time() - t0
            r.stderr = "timed out after %gs" % timeout
            return r
        r.wall = time.time() - t0
        r.rc = proc.returncode
        r.stderr = proc.stderr
        if proc.returncode != 0:
            return r
        r.raw, r.outs = [], []
        for p in outp:
            if not os.path.exists(p):
                r.stderr += "\nno output file %s" % p
                return r
            with open(p, "rb") as f:
                r.raw.append(f.read())
            r.outs.append(np.load(p, allow_pickle=False))
        r.ok = True
        return r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tool_failure(r):
    if r.timed_out:
        return "kvshift-run hung (%s)" % r.stderr
    last = r.stderr.strip().splitlines()
    return "kvshift-run exited with %s: %s" % (r.rc, last[-1] if last else "(no stderr)")


def check_layout(outs, c, kind):
    """dtype and shape of each result; returns a problem string or None."""
    shapes = {"fwd": [c.q.shape],
              "grad": [c.q.shape, c.k.shape, c.v.shape, c.kw.shape, c.vw.shape]}
    shapes["both"] = shapes["fwd"] + shapes["grad"]
    for o, s in zip(outs, shapes[kind]):
        if o.dtype != np.float32 or o.shape != s:
            return "result %s %s, expected float32 %s" % (o.dtype, o.shape, s)
    return None


def split(outs, kind):
    """(out or None, grads or None) from a run's results."""
    if kind == "fwd":
        return outs[0], None
    if kind == "grad":
        return None, outs
    return outs[0], outs[1:]


# ---------------------------------------------------------------------------
# Mode 1: random shapes
# ---------------------------------------------------------------------------

def random_case(seed, force_rope=False):
    """Seed -> (Case, pipelines). force_rope (--rope): D rounded up to even
    and rope_theta always set."""
    rng = np.random.default_rng(1000 + seed)
    B = int(rng.integers(1, 4))
    Hkv = int(rng.integers(1, 4))
    G = int(rng.integers(1, 5))
    # Every S and every D of the lists appears in seeds 0-12: one of Sq, Sk
    # and D walk through the lists, the other sequence length is random.
    Sq, Sk = S_CHOICES[seed % len(S_CHOICES)], int(rng.choice(S_CHOICES))
    if rng.random() < 0.5:
        Sq, Sk = Sk, Sq
    D = D_CHOICES[(5 * seed) % len(D_CHOICES)]
    if force_rope:
        D += D % 2
    causal = bool(rng.integers(0, 2))
    if causal and Sq > Sk:
        Sq, Sk = Sk, Sq
    scale = None if rng.random() < 0.6 else float(rng.uniform(0.05, 1.5))
    wmode = ("normal", "negative", "paper")[seed % 3]
    Hq = Hkv * G

    def weights():
        if wmode == "paper":
            a = rng.uniform(0.0, 1.0, Hkv)
            return np.stack([a, 1.0 - a], 1)
        if wmode == "negative":
            return rng.uniform(0.3, 1.4, (Hkv, 2)) * rng.choice([-1.0, 1.0], (Hkv, 2))
        return rng.normal(0.5, 0.5, (Hkv, 2))

    q = rng.standard_normal((B, Hq, Sq, D))
    k = rng.standard_normal((B, Hkv, Sk, D))
    v = rng.standard_normal((B, Hkv, Sk, D))
    kw, vw = weights(), weights()
    dout = rng.standard_normal((B, Hq, Sq, D))
    # RoPE after the mix for even D, from a generator of its own so that the
    # shapes above stay what they were before RoPE existed.
    rope_rng = np.random.default_rng(5000 + seed)
    rope_theta = None
    if D % 2 == 0 and (force_rope or rope_rng.random() < 0.5):
        rope_theta = float(rope_rng.choice([3.5, 10000.0, 500000.0]))
    c = Case("random seed=%d w=%s" % (seed, wmode), q, k, v, kw, vw, dout, scale, causal,
             rope_theta)
    pipes = list(PIPELINES)
    if seed % 4 == 3 and FUSED_PIPE in PIPELINES:
        br = int(rng.choice([1, 5, 16, 24, 100]))
        bk = int(rng.choice([4, 8, 12, 20, 128]))
        pipes.append("%s{block-rows=%d block-k=%d}" % (FUSED_PIPE, br, bk))
    return c, pipes


def check_forward(c, pipeline, out, expected, tol=FWD_TOL, label=""):
    err = ref.max_rel_err(out, expected)
    if not err <= tol:
        diff = np.abs(out.astype(np.float64) - expected)
        diff[~np.isfinite(diff)] = np.inf
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
        return report(False, "[%s%s] [%s] forward max_rel_err=%.3e > %.0e (worst at %s: "
                      "got %r, expected %r; %d non-finite)"
                      % (c.name, label, pipeline, err, tol, idx, float(out[idx]),
                         float(expected[idx]), int(np.count_nonzero(~np.isfinite(out)))))
    return report(True, "[%s%s] [%s] forward max_rel_err=%.3e" % (c.name, label, pipeline, err))


def check_grads(c, pipeline, outs, expected, mags, tol=GRAD_TOL, label=""):
    errs, van, problems = [], [], []
    for g, o, want, mag in zip(GRADS, outs, expected, mags):
        e, vanishing = grad_error(o, want, mag)
        errs.append(e)
        if vanishing:
            van.append(g if vanishing is True else "%s ill-conditioned" % g)
        if not e <= tol:
            problems.append("%s error %.3e > %.0e (%d non-finite)"
                            % (g, e, tol, int(np.count_nonzero(~np.isfinite(o)))))
    line = " ".join("%s=%.3e" % (g, e) for g, e in zip(GRADS, errs))
    if van:
        line += " (vanishing: %s)" % ", ".join(van)
    if problems:
        return report(False, "[%s%s] [%s] gradient %s; %s"
                      % (c.name, label, pipeline, line, "; ".join(problems)))
    return report(True, "[%s%s] [%s] gradient %s" % (c.name, label, pipeline, line))


def mode_random(seeds, force_rope=False):
    for seed in seeds:
        c, pipes = random_case(seed, force_rope)
        c.name += " " + c.shape_text()
        kinds = ["both"] if seed % 2 == 0 else ["fwd", "grad"]
        exp_out = c.ref_forward()
        exp_g = c.ref_grad()
        mags = c.grad_mag()
        for pipe in pipes:
            for kind in kinds:
                r = run_tool(c, kind, pipe)
                if not r.ok:
                    report(False, "[%s] [%s] %s: %s" % (c.name, pipe, kind, tool_failure(r)))
                    continue
                bad = check_layout(r.outs, c, kind)
                if bad:
                    report(False, "[%s] [%s] %s: %s" % (c.name, pipe, kind, bad))
                    continue
                out, grads = split(r.outs, kind)
                label = " (fwd+grad in one function)" if kind == "both" else ""
                if out is not None:
                    check_forward(c, pipe, out, exp_out, label=label)
                if grads is not None:
                    check_grads(c, pipe, grads, exp_g, mags, label=label)


# ---------------------------------------------------------------------------
# Mode 2: extreme but finite inputs
# ---------------------------------------------------------------------------

def forward_bound(c):
    """(reference out, allowance): a rigorous bound on how much the f32
    rounding of the logits can move each output element.

    The tool computes each logit s_ij = scale * q_i . k^_j in f32: the mix
    k^_j = a1 k_j + a2 k_{j-1} (<= 2 roundings), the scaling of q (1), a dot
    product of D terms (<= D) and the product with scale (1), so
        |s~_ij - s_ij| <= delta_ij = (D + 4) u |scale| sum_d |q_id| (|a1 k_jd| + |a2 k_{j-1,d}|)
    (u = 2^-24, to first order). With logit errors |e_j| <= delta_i = max_j delta_ij
    over the keys row i sees, every softmax weight changes by a factor in
    [exp(-2 delta_i), exp(2 delta_i)], and since the weights sum to 1,
        |out~_i - out_i| <= expm1(2 delta_i) * sum_j p_ij |v^_j - out_i|.
    This is exact arithmetic on rounded logits; it is small when the row is
    far from a tie (one-hot rows have sum_j p_ij |v^_j - out_i| ~ 0) and large
    only where the problem itself is ill-conditioned. The remaining f32
    errors (exp, the sums, P V^, the mix of v) are those of the ordinary
    suite and are left to the usual normwise 1e-5."""
    q, k, v, kw, vw = c.args64()
    scale = c.eff_scale()
    idx = np.arange(c.Hq) // c.G
    kh = ref.kv_shift(k, kw)[:, idx]
    vh = ref.kv_shift(v, vw)[:, idx]
    kabs = ref.kv_shift(np.abs(k), np.abs(kw))[:, idx]
    s = scale * np.einsum("bhid,bhjd->bhij", q, kh)
    vis = np.ones((c.Sq, c.Sk), bool)
    if c.causal:
        vis = ref.causal_mask(c.Sq, c.Sk)
    s = np.where(vis, s, -np.inf)
    p = ref._softmax_rows(s)
    out = np.einsum("bhij,bhjd->bhid", p, vh)
    delta = (c.D + 4) * U * abs(scale) * np.einsum("bhid,bhjd->bhij", np.abs(q), kabs)
    delta_row = np.max(np.where(vis, delta, 0.0), axis=-1)           # [B, Hq, Sq]
    spread = np.einsum("bhij,bhijd->bhid", p,
                       np.abs(vh[:, :, None, :, :] - out[:, :, :, None, :]))
    with np.errstate(over="ignore", invalid="ignore"):
        allowance = np.expm1(2.0 * delta_row)[..., None] * spread
    # 0 * Inf (a one-hot row with an enormous bound) is 0.
    return out, np.where(spread == 0.0, 0.0, allowance)


def check_forward_bound(c, pipe, out, expected, allowance, tol=FWD_TOL):
    """|out - ref| <= tol * max|ref| + allowance, element by element."""
    name = "[%s] [%s] forward" % (c.name, pipe)
    if not np.all(np.isfinite(out)):
        return report(False, "%s: %d non-finite values of %d"
                      % (name, int(np.count_nonzero(~np.isfinite(out))), out.size))
    den = np.max(np.abs(expected))
    diff = np.abs(out.astype(np.float64) - expected)
    excess = np.max(diff - allowance) / den if den > 0 else np.max(diff - allowance)
    err = ref.max_rel_err(out, expected)
    allow = np.max(allowance) / den if den > 0 else np.max(allowance)
    ok = excess <= tol
    return report(ok, "%s max_rel_err=%.3e (rounding-of-logits allowance up to %.1e; "
                  "error beyond it %.3e, tol %.0e) max|ref|=%.3g"
                  % (name, err, allow, max(excess, 0.0), tol, den))


def check_exact_zero(c, pipe, what, arr):
    nz = int(np.count_nonzero(arr))
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    return report(nz == 0, "[%s] [%s] %s is exactly zero (%d nonzero, %d non-finite of %d)"
                  % (c.name, pipe, what, nz, bad, arr.size))


def check_underflow(c, pipe, what, arr, want):
    """A result whose exact value lies below f32's subnormal range: it must
    come out as (near) zero: |out| <= 2^-126, and the reference must agree."""
    tiny = 2.0 ** -126
    big = float(np.max(np.abs(arr))) if np.all(np.isfinite(arr)) else float("inf")
    ok = big <= tiny and float(np.max(np.abs(want))) < 2.0 ** -149
    return report(ok, "[%s] [%s] %s underflows: max|out|=%.3g (<= 2^-126), max|ref|=%.3g "
                  "(below f32's subnormals)" % (c.name, pipe, what, big,
                                                float(np.max(np.abs(want)))))


def check_overflow_or_close(c, pipe, what, arr, want, tol=FWD_TOL):
    """Where |want| > FLT_MAX (f32 cannot represent it) arr must be
    non-finite; elsewhere arr is non-finite (overflow of a partial sum,
    documented) or within tol * max|want| of want."""
    over = np.abs(want) > FLT_MAX
    nf = ~np.isfinite(arr)
    miss = over & ~nf
    fin = ~over & ~nf
    den = float(np.max(np.abs(want)))
    err = float(np.max(np.abs(arr[fin] - want[fin]))) / den if fin.any() else 0.0
    ok = not miss.any() and err <= tol
    return report(ok, "[%s] [%s] %s: %d of %d beyond FLT_MAX in float64 (all non-finite: %s); "
                  "%d others non-finite (partial sums overflow); finite ones max_rel_err=%.1e"
                  % (c.name, pipe, what, int(over.sum()), arr.size, "yes" if not miss.any()
                     else "NO, %d finite" % int(miss.sum()), int((nf & ~over).sum()), err))


def run_checked(c, kind, pipe):
    r = run_tool(c, kind, pipe)
    if not r.ok:
        report(False, "[%s] [%s] %s: %s" % (c.name, pipe, kind, tool_failure(r)))
        return None
    bad = check_layout(r.outs, c, kind)
    if bad:
        report(False, "[%s] [%s] %s: %s" % (c.name, pipe, kind, bad))
        return None
    return split(r.outs, kind)


def _rng(tag):
    """A generator seeded from a case's tag (stable across runs)."""
    return np.random.default_rng([ord(ch) for ch in tag])


def _std(rng, *shape):
    return rng.standard_normal(shape)


def extreme_case(fn):
    EXTREME[fn.__name__.replace("x_", "").replace("_", "-")] = fn
    return fn


def _shape(rng, B=1, Hq=4, Hkv=2, Sq=97, Sk=97, D=16):
    q = _std(rng, B, Hq, Sq, D)
    k = _std(rng, B, Hkv, Sk, D)
    v = _std(rng, B, Hkv, Sk, D)
    dout = _std(rng, B, Hq, Sq, D)
    return q, k, v, dout


def _run_forward_bound(c, pipes=None):
    exp, allow = forward_bound(c)
    for pipe in pipes or PIPELINES:
        res = run_checked(c, "fwd", pipe)
        if res:
            check_forward_bound(c, pipe, res[0], exp, allow)


def _check_grad_rules(c, pipe, grads, exp, mags, names=GRADS, tol=GRAD_TOL, special=None,
                      label=""):
    """The gradient by run_grad.py's rules for the results in `names`;
    `special(pipe, grads, expected)` checks the others."""
    errs, van, probs = [], [], []
    for g, o, want, mag in zip(GRADS, grads, exp, mags):
        if g not in names:
            continue
        e, vn = grad_error(o, want, mag)
        errs.append("%s=%.3e" % (g, e))
        if vn:
            van.append(g if vn is True else "%s ill-conditioned" % g)
        if not e <= tol:
            probs.append("%s error %.3e > %.0e (%d non-finite)"
                         % (g, e, tol, int(np.count_nonzero(~np.isfinite(o)))))
    line = " ".join(errs) + (" (vanishing: %s)" % ", ".join(van) if van else "")
    report(not probs, "[%s] [%s] gradient%s %s%s" % (c.name, pipe, label, line,
                                                     "; " + "; ".join(probs) if probs else ""))
    if special:
        special(pipe, grads, exp)


def _run_grad_rules(c, pipes=None, names=GRADS, tol=GRAD_TOL, special=None):
    exp, mags = c.ref_grad(), c.grad_mag()
    for pipe in pipes or PIPELINES:
        res = run_checked(c, "grad", pipe)
        if res:
            _check_grad_rules(c, pipe, res[1], exp, mags, names, tol, special)


def _run_fwd_grad(c, combined, names=GRADS, special=None, fwd_check=None):
    """Forward (by the rounding bound, or fwd_check(pipe, out)) and gradient
    (run_grad's rules on `names`, special() for the others): as two programs,
    or, combined, as one program holding both ops (the fused pipeline then
    hands the forward's statistics to the gradient)."""
    if not combined:
        if fwd_check is None:
            _run_forward_bound(c)
        else:
            for pipe in PIPELINES:
                res = run_checked(c, "fwd", pipe)
                if res:
                    fwd_check(pipe, res[0])
        _run_grad_rules(c, names=names, special=special)
        return
    exp, allow = forward_bound(c)
    gexp, mags = c.ref_grad(), c.grad_mag()
    for pipe in PIPELINES:
        res = run_checked(c, "both", pipe)
        if not res:
            continue
        if fwd_check is None:
            check_forward_bound(c, pipe, res[0], exp, allow)
        else:
            fwd_check(pipe, res[0])
        _check_grad_rules(c, pipe, res[1], gexp, mags, names, special=special,
                          label=" (fwd+grad in one function)")


@extreme_case
def x_logits_1e4_scale():
    """scale = 1e4: logits of order 1e4 (differences of thousands); the
    softmax is one-hot except near ties. Forward by the rounding bound."""
    rng = _rng("scale1e4")
    q, k, v, dout = _shape(rng, B=2, Hq=4, Hkv=2, Sq=97, Sk=97, D=16)
    kw = np.array([[0.8, 0.3], [-0.6, 1.1]])
    vw = np.array([[0.5, 0.5], [1.2, -0.4]])
    for causal in (True, False):
        c = Case("logits-1e4-scale%s" % (" causal" if causal else ""), q, k, v, kw, vw,
                 dout, scale=1e4, causal=causal)
        # dS = P (dP - D) is ~0 on one-hot rows: dq, dk, dkw are measured
        # against the size of their terms (run_grad's vanishing rule).
        _run_fwd_grad(c, combined=not causal)


@extreme_case
def x_logits_1e4_q():
    """Large q (|q| ~ 1e3) and k (~ 30) with the default scale: logits of
    order 1e4, Sq < Sk, D = 17 (not a multiple of the vector width)."""
    rng = _rng("q1e4")
    q, k, v, dout = _shape(rng, B=1, Hq=6, Hkv=2, Sq=61, Sk=131, D=17)
    q *= 1e3
    k *= 30.0
    kw = np.array([[0.7, 0.3], [1.0, -0.5]])
    vw = np.array([[0.9, 0.1], [0.4, 0.6]])
    for causal in (True, False):
        c = Case("logits-1e4-q%s" % (" causal" if causal else ""), q, k, v, kw, vw, dout,
                 causal=causal)
        _run_forward_bound(c)


@extreme_case
def x_tiny_weights():
    """a, b ~ 1e-30: K^ ~ 1e-30 (logits ~ 1e-30, a uniform softmax) and
    V^ ~ 1e-30 (an output of order 1e-30, still normal in f32). Forward to
    1e-5. Gradient: dv, dkw, dvw to 1e-5 (run_grad rules); dq = scale dS K^
    and dk = a dK^ are of order 1e-60, below f32's smallest subnormal, so
    they must come out as zero (or at most 2^-126)."""
    rng = _rng("tiny")
    q, k, v, dout = _shape(rng, B=2, Hq=4, Hkv=2, Sq=65, Sk=65, D=13)
    kw = np.array([[1e-30, -2e-30], [3e-30, 1e-30]])
    vw = np.array([[2e-30, 1e-30], [-1e-30, 3e-30]])
    c = Case("tiny-weights causal", q, k, v, kw, vw, dout, causal=True)

    def special(pipe, grads, exp):
        check_underflow(c, pipe, "dq", grads[0], exp[0])
        check_underflow(c, pipe, "dk", grads[1], exp[1])
    _run_fwd_grad(c, combined=True, names=("dv", "dkw", "dvw"), special=special)


@extreme_case
def x_cancelling_weights():
    """a2 = -a1, b2 = -b1 with runs of equal rows (k_t = k_{t-1}, v_t =
    v_{t-1} on 3 of every 4 positions): K^ and V^ are exactly zero on those
    rows in exact arithmetic, while f32 may leave the rounding error of
    a1 * k_t (an FMA computes a1 k_t - round(a1 k_{t-1})). Forward by the
    rounding bound (which includes the mix), gradient by run_grad's rules."""
    rng = _rng("cancel")
    B, Hq, Hkv, S, D = 2, 6, 3, 70, 17
    q, k, v, dout = _shape(rng, B=B, Hq=Hq, Hkv=Hkv, Sq=S, Sk=S, D=D)
    for t in range(S):
        if t % 4 != 0:
            k[:, :, t] = k[:, :, t - 1]
            v[:, :, t] = v[:, :, t - 1]
    a = np.array([0.7, -1.3, 0.1])
    b = np.array([1.1, 0.45, -0.8])
    kw = np.stack([a, -a], 1)
    vw = np.stack([b, -b], 1)
    for causal in (True, False):
        c = Case("cancelling-weights%s" % (" causal" if causal else ""), q, k, v, kw, vw,
                 dout, causal=causal)
        _run_fwd_grad(c, combined=not causal)


@extreme_case
def x_zero_key_weights():
    """a1 = a2 = 0: K^ = 0, every logit is 0 and the softmax is uniform over
    the keys a row sees (out_i = mean of the visible v^_j). dq = scale dS K^
    and dk = a1 dK^_t + a2 dK^_{t+1} are exactly zero."""
    rng = _rng("zerok")
    q, k, v, dout = _shape(rng, B=2, Hq=4, Hkv=2, Sq=31, Sk=131, D=8)
    kw = np.zeros((2, 2))
    vw = np.array([[0.5, 0.5], [-0.7, 1.3]])
    for causal in (True, False):
        c = Case("zero-key-weights%s" % (" causal" if causal else ""), q, k, v, kw, vw,
                 dout, causal=causal)

        def special(pipe, grads, exp, c=c):
            check_exact_zero(c, pipe, "dq", grads[0])
            check_exact_zero(c, pipe, "dk", grads[1])
        _run_fwd_grad(c, combined=not causal, names=("dv", "dkw", "dvw"), special=special)


@extreme_case
def x_zero_value_weights():
    """b1 = b2 = 0: V^ = 0, so out is exactly zero, and so are dv, dq, dk
    and dkw (dP = dO V^T = 0 and D = rowsum(dO * out) = 0, hence dS = 0);
    only dvw = sum dV^ . v is nonzero."""
    rng = _rng("zerov")
    q, k, v, dout = _shape(rng, B=2, Hq=6, Hkv=2, Sq=64, Sk=64, D=31)
    kw = np.array([[0.5, 0.5], [-0.7, 1.3]])
    vw = np.zeros((2, 2))
    c = Case("zero-value-weights causal", q, k, v, kw, vw, dout, causal=True)

    def special(pipe, grads, exp):
        for g, arr in zip(GRADS[:4], grads[:4]):
            check_exact_zero(c, pipe, g, arr)
    _run_fwd_grad(c, combined=True, names=("dvw",), special=special,
                  fwd_check=lambda pipe, out: check_exact_zero(c, pipe, "out", out))


@extreme_case
def x_huge_values_small_weights():
    """v near f32's maximum (|v| up to 3.4e38) with value weights of order
    1e-3: V^ ~ 1e35, every intermediate of the forward representable (the
    unnormalised flash accumulator holds at most Sk * max|V^| ~ 1e37).
    Forward by the rounding bound, relative to max|ref| ~ 1e35."""
    rng = _rng("hugev")
    q, k, v, dout = _shape(rng, B=2, Hq=4, Hkv=2, Sq=65, Sk=65, D=16)
    v = rng.uniform(-1.0, 1.0, v.shape) * FLT_MAX
    kw = np.array([[0.8, 0.3], [-0.6, 1.1]])
    vw = np.array([[1e-3, -2e-3], [1.5e-3, 5e-4]])
    for causal in (True, False):
        c = Case("huge-values-small-weights%s" % (" causal" if causal else ""),
                 q, k, v, kw, vw, dout, causal=causal)
        _run_forward_bound(c)
    # Gradient: dq, dk, dv, dkw by run_grad's rules. dvw = sum dV^_t . v_t
    # sums 2 * 65 * 16 terms of up to ~1e38: column 0 is ~4.5e39 in exact
    # arithmetic (beyond f32), column 1 ~2.6e38 (representable, but a running
    # f32 sum of terms of both signs near FLT_MAX overflows on the way).
    # Documented: dvw elements beyond FLT_MAX are non-finite; the others are
    # either non-finite (overflow of the partial sums) or correct to 1e-5.

    def special(pipe, grads, exp):
        check_overflow_or_close(c, pipe, "dvw", grads[4], exp[4])
    _run_grad_rules(c, names=("dq", "dk", "dv", "dkw"), special=special)


@extreme_case
def x_huge_mean():
    """Every key equally likely (a1 = a2 = 0) and V^ ~ 2.5e38, all positive:
    out_i, the mean of the visible V^ rows, is ~2.5e38 and representable in
    f32; so are K^, V^, P and every term of sum_j p_ij V^_j. A kernel that
    accumulates sum_j exp(s_ij - m_i) V^_j before dividing by the row sum
    (unnormalised flash attention) overflows to +inf once two or more keys
    are summed. As it should behave: finite, within the forward bound."""
    rng = _rng("hugemean")
    q, k, v, dout = _shape(rng, B=1, Hq=2, Hkv=1, Sq=8, Sk=8, D=16)
    v = rng.uniform(0.7, 0.75, v.shape) * FLT_MAX
    kw = np.zeros((1, 2))
    vw = np.array([[0.5, 0.5]])
    for causal in (True, False):
        c = Case("huge-mean%s" % (" causal" if causal else ""), q, k, v, kw, vw, dout,
                 causal=causal)
        _run_forward_bound(c)


@extreme_case
def x_subnormal_values():
    """V^ ~ 1e-38 (b ~ 1e-38, at the bottom of f32's normal range): the
    products p_ij V^_j are subnormal. Checks that gradual underflow is kept
    (a flush-to-zero mode would zero the output): normwise error <= 1e-5
    plus the subnormal spacing, Sk * 2^-149 / max|ref| (about 1e-5 here)."""
    rng = _rng("subnormal")
    q, k, v, dout = _shape(rng, B=1, Hq=2, Hkv=1, Sq=64, Sk=64, D=16)
    kw = np.array([[0.6, 0.4]])
    vw = np.array([[1e-38, 5e-39]])
    c = Case("subnormal-values causal", q, k, v, kw, vw, dout, causal=True)
    exp, allow = forward_bound(c)
    allow = allow + c.Sk * 2.0 ** -149
    for pipe in PIPELINES:
        res = run_checked(c, "fwd", pipe)
        if res:
            check_forward_bound(c, pipe, res[0], exp, allow)


@extreme_case
def x_value_overflow():
    """v ~ 0.7 FLT_MAX, all positive, b1 = b2 = 1: v^_t = v_t + v_{t-1} ~
    1.45 FLT_MAX for t >= 1 cannot be represented in f32 (it is +Inf; v^_0
    = v_0 is finite). Documented: an output element that gives weight to an
    overflowed v^_j[d] is non-finite (+Inf, or NaN where Inf meets 0 or
    -Inf); the pipelines' masked-key leak (README.md) also makes NaN the
    elements of rows that do not see such a key but multiply it by 0
    (reference: every row; fused: rows of the same work item); all other
    elements are finite and within the forward bound."""
    rng = _rng("vhat-ovf")
    q, k, v, dout = _shape(rng, B=1, Hq=2, Hkv=1, Sq=70, Sk=70, D=16)
    v = rng.uniform(0.7, 0.75, v.shape) * FLT_MAX
    for causal in (False, True):
        c = Case("value-overflow%s" % (" causal" if causal else ""), q, k, v,
                 [[0.6, 0.4]], [[1.0, 1.0]], dout, causal=causal)
        exp, allow = forward_bound(c)
        vh = ref.kv_shift(c.v.astype(np.float64),
                          c.vw.astype(np.float64))
        over = np.abs(vh) > FLT_MAX                              # [B, Hkv, Sk, D]
        for pipe in PIPELINES:
            res = run_checked(c, "fwd", pipe)
            if not res:
                continue
            out = res[0]
            touched = touched_keys(c, pipe)
            reads = np.zeros(out.shape, bool)
            leak = np.zeros(out.shape, bool)
            for i in range(c.Sq):
                n = _visible(c, i)
                reads[:, :, i] = over[:, np.arange(c.Hq) // c.G, :n].any(2)
                leak[:, :, i] = over[:, np.arange(c.Hq) // c.G, n:touched[i]].any(2)
            leak &= ~reads
            nf = ~np.isfinite(out)
            other = ~reads & ~leak
            den = float(np.max(np.abs(exp[other]))) if other.any() else 1.0
            fin = other & ~nf
            err = (float(np.max(np.abs(out[fin] - exp[fin]) - allow[fin])) / den
                   if fin.any() else 0.0)
            probs = []
            if (reads & ~nf).any():
                probs.append("%d elements reading an overflowed v^ are finite"
                             % int((reads & ~nf).sum()))
            if (leak & ~np.isnan(out)).any():
                probs.append("%d leak elements not NaN" % int((leak & ~np.isnan(out)).sum()))
            if (other & nf).any():
                probs.append("%d other elements non-finite" % int((other & nf).sum()))
            if not err <= FWD_TOL:
                probs.append("other elements error %.3e > %.0e" % (err, FWD_TOL))
            report(not probs, "[%s] [%s] forward: %d NaN, %d +Inf, %d -Inf of %d; reading an "
                   "overflowed v^ %d (all non-finite), leak %d (NaN), other %d (finite, "
                   "error beyond the bound %.1e)%s"
                   % (c.name, pipe, int(np.isnan(out).sum()), int(np.isposinf(out).sum()),
                      int(np.isneginf(out).sum()), out.size, int(reads.sum()),
                      int(leak.sum()), int(other.sum()), max(err, 0.0),
                      "; " + "; ".join(probs) if probs else ""))


@extreme_case
def x_logit_overflow():
    """Rows 0..34 of q ~ 1e21 against k ~ 1e19: the products q_d k^_d
    (~1e40) overflow f32, the logits are beyond FLT_MAX (f32 cannot
    represent them): documented, such a row is NaN (Inf - Inf). Rows
    35..69 (q ~ 1): logits ~1e19, finite; one-hot softmax; those rows must
    be finite and within the forward bound."""
    rng = _rng("logit-ovf")
    q, k, v, dout = _shape(rng, B=1, Hq=2, Hkv=1, Sq=70, Sk=70, D=16)
    q[:, :, :35] *= 1e21
    k *= 1e19
    for causal in (False, True):
        c = Case("logit-overflow%s" % (" causal" if causal else ""), q, k, v,
                 [[0.6, 0.4]], [[0.5, 0.5]], dout, causal=causal)
        exp, allow = forward_bound(c)
        for pipe in PIPELINES:
            res = run_checked(c, "fwd", pipe)
            if not res:
                continue
            out = res[0]
            nf = ~np.isfinite(out)
            top, bottom = out[:, :, :35], out[:, :, 35:]
            ok_top = bool(np.all(~np.isfinite(top)))
            den = float(np.max(np.abs(exp[:, :, 35:])))
            fin = np.all(np.isfinite(bottom))
            err = (float(np.max(np.abs(bottom - exp[:, :, 35:]) - allow[:, :, 35:])) / den
                   if fin else float("inf"))
            report(ok_top and fin and err <= FWD_TOL,
                   "[%s] [%s] forward: rows with overflowing logits: %d of %d elements "
                   "non-finite (%d NaN); other rows: %s, error beyond the bound %.1e"
                   % (c.name, pipe, int(nf[:, :, :35].sum()), top.size,
                      int(np.isnan(top).sum()),
                      "finite" if fin else "%d non-finite" % int((~np.isfinite(bottom)).sum()),
                      max(err, 0.0)))


@extreme_case
def x_prescaled_query_overflow():
    """q ~ 1e36 (finite), k ~ 1e-6, scale = 1e4: scale * (q . k^) is ~1e34,
    well inside f32, and so is every product q_d k^_d (~1e30), so the
    logits the spec defines are representable and the softmax is one-hot.
    A lowering that multiplies q by the scale first forms q * scale ~ 1e40
    = Inf and gets NaN. As it should behave: finite, within the forward
    bound (the reference pipeline computes (q . k^) * scale)."""
    rng = _rng("prescale")
    q, k, v, dout = _shape(rng, B=1, Hq=4, Hkv=2, Sq=16, Sk=16, D=16)
    q *= 1e36
    k *= 1e-6
    c = Case("prescaled-query-overflow causal", q, k, v,
             [[0.8, 0.3], [-0.6, 1.1]], [[0.5, 0.5], [1.2, -0.4]], dout, scale=1e4,
             causal=True)
    _run_forward_bound(c)


# ---------------------------------------------------------------------------
# Mode 3: NaN and Inf in the inputs
# ---------------------------------------------------------------------------
#
# Every case poisons one element of one operand of the same base problem
# (B=2, Hq=4, Hkv=2, D=17, Sq=Sk=70 causal unless stated; 70 crosses the
# fused kernel's 64-key tiles and the 32-row query tiles of G=2) and checks,
# per pipeline, the behaviour documented in README.md:
#   forward  1. where the float64 IEEE evaluation of the mathematics is
#               non-finite, the output is non-finite (a row that reads the
#               poison through a visible key or its own q is NaN/Inf);
#            2. "leak" elements (README.md) are NaN;
#            3. elements that read the poison but are finite in float64 may
#               be non-finite; finite ones equal the float64 value (1e-5);
#            4. every other element is finite and bit-identical to the same
#               pipeline's run on the clean inputs (which itself matches the
#               float64 reference to 1e-5).
#   gradient 1. where the float64 IEEE gradient (every masked key left out)
#               is non-finite, the result is non-finite;
#            2. everything outside the poisoned (batch, KV head) block is
#               finite and bit-identical to the clean run.
# The tool must exit 0 (no crash) within the timeout (no hang).

def fused_block_rows(pipeline):
    """block-rows of a fused pipeline name (None for the reference one)."""
    if not pipeline.startswith(FUSED_PIPE):
        return None
    br = 64
    if "block-rows=" in pipeline:
        br = int(pipeline.split("block-rows=")[1].split()[0].rstrip("}"))
    return br


def touched_keys(c, pipeline):
    """[Sq]: the number n_i of keys (the prefix 0..n_i-1) whose V^ rows query
    row i multiplies in the pipeline's forward, masked keys with weight 0:
    - reference: P V^ is a full matrix product: every key;
    - fused, causal: a work item of rph = max(1, min(block-rows // G, Sq))
      query rows per head visits the key tiles up to the last key its last
      row sees: n_i = min(Sk, q0 + qn + Sk - Sq) for the item [q0, q0 + qn)."""
    if not c.causal:
        return np.full(c.Sq, c.Sk)
    br = fused_block_rows(pipeline)
    if br is None:
        return np.full(c.Sq, c.Sk)
    rph = max(1, min(max(1, br // max(c.G, 1)), c.Sq))
    i = np.arange(c.Sq)
    q0 = (i // rph) * rph
    qn = np.minimum(rph, c.Sq - q0)
    return np.minimum(c.Sk, q0 + qn + (c.Sk - c.Sq))


def _visible(c, i):
    return (c.Sk - c.Sq + i + 1) if c.causal else c.Sk


def _mix_no_halo(x, w):
    """x^_t = w0 x_t + w1 x_{t-1}, the t = 0 term w1 * 0 left out."""
    y = w[None, :, 0, None, None] * x
    y[:, :, 1:] += w[None, :, 1, None, None] * x[:, :, :-1]
    return y


def ieee_forward(c):
    """The forward in float64 IEEE arithmetic on the poisoned inputs, each
    row over the keys it sees only (masked keys take no part at all), the
    k_{-1} = v_{-1} = 0 terms left out. Non-finite exactly where the
    mathematics propagates the NaN/Inf."""
    q, k, v, kw, vw = c.args64()
    idx = np.arange(c.Hq) // c.G
    out = np.zeros(q.shape)
    with np.errstate(all="ignore"):
        kh = _mix_no_halo(k, kw)[:, idx]
        vh = _mix_no_halo(v, vw)[:, idx]
        for i in range(c.Sq):
            n = _visible(c, i)
            s = c.eff_scale() * np.einsum("bhd,bhjd->bhj", q[:, :, i], kh[:, :, :n])
            m = np.max(s, axis=-1, keepdims=True)
            e = np.exp(s - m)
            p = e / np.sum(e, axis=-1, keepdims=True)
            out[:, :, i] = np.einsum("bhj,bhjd->bhd", p, vh[:, :, :n])
    return out


def ieee_grad(c):
    """The gradient in float64 IEEE arithmetic, every masked key left out of
    every sum (row by row), the halo terms left out."""
    q, k, v, kw, vw = c.args64()
    do = c.dout.astype(np.float64)
    idx = np.arange(c.Hq) // c.G
    sc = c.eff_scale()
    B, Hq, Sq, D = q.shape
    with np.errstate(all="ignore"):
        kh = _mix_no_halo(k, kw)
        vh = _mix_no_halo(v, vw)
        dq = np.zeros(q.shape)
        dkh = np.zeros(k.shape)
        dvh = np.zeros(v.shape)
        for i in range(Sq):
            n = _visible(c, i)
            khi, vhi = kh[:, idx, :n], vh[:, idx, :n]                 # [B, Hq, n, D]
            s = sc * np.einsum("bhd,bhjd->bhj", q[:, :, i], khi)
            m = np.max(s, axis=-1, keepdims=True)
            e = np.exp(s - m)
            p = e / np.sum(e, axis=-1, keepdims=True)                 # [B, Hq, n]
            o = np.einsum("bhj,bhjd->bhd", p, vhi)
            dp = np.einsum("bhd,bhjd->bhj", do[:, :, i], vhi)
            delta = np.sum(do[:, :, i] * o, axis=-1, keepdims=True)
            ds = p * (dp - delta)
            dq[:, :, i] = sc * np.einsum("bhj,bhjd->bhd", ds, khi)
            for h in range(Hq):
                dkh[:, idx[h], :n] += sc * ds[:, h, :, None] * q[:, h, i][:, None, :]
                dvh[:, idx[h], :n] += p[:, h, :, None] * do[:, h, i][:, None, :]

        def back(dxh, x, w):
            dx = w[None, :, 0, None, None] * dxh
            dx[:, :, :-1] += w[None, :, 1, None, None] * dxh[:, :, 1:]
            dw = np.zeros(w.shape)
            dw[:, 0] = np.einsum("bhtd,bhtd->h", dxh, x)
            dw[:, 1] = np.einsum("bhtd,bhtd->h", dxh[:, :, 1:], x[:, :, :-1])
            return dx, dw
        dk, dkw = back(dkh, k, kw)
        dv, dvw = back(dvh, v, vw)
    return dq, dk, dv, dkw, dvw


def poison_masks(c, pipeline):
    """(reads, leak), boolean masks of the output's shape.
    reads: the element's formula involves a non-finite input: q_i, or, for a
      key j it sees, k_j, k_{j-1}, a1, a2 (any head dim), or v_{j,d},
      v_{j-1,d}, b1, b2 (its own head dim d); the halo terms a2 k_{-1} and
      b2 v_{-1} count as involving a2, b2.
    leak: reads nothing non-finite, but the pipeline multiplies a non-finite
      V^[j, d] by the weight 0 of a key j the row does not see (j among
      touched_keys, masked)."""
    bad = lambda x: ~np.isfinite(x)
    idx = np.arange(c.Hq) // c.G
    wk = bad(c.kw).any(1)
    wv = bad(c.vw).any(1)
    kb = bad(c.k).any(-1)                                  # [B, Hkv, Sk]
    khb = kb.copy()
    khb[:, :, 1:] |= kb[:, :, :-1]
    khb |= wk[None, :, None]
    vb = bad(c.v)                                          # [B, Hkv, Sk, D]
    vhb = vb.copy()
    vhb[:, :, 1:] |= vb[:, :, :-1]
    vhb |= wv[None, :, None, None]
    with np.errstate(all="ignore"):
        vh_nonfinite = bad(ref.kv_shift(c.v.astype(np.float64), c.vw.astype(np.float64)))
    qb = bad(c.q).any(-1)                                  # [B, Hq, Sq]
    reads = np.zeros(c.q.shape, bool)
    leak = np.zeros(c.q.shape, bool)
    touched = touched_keys(c, pipeline)
    for i in range(c.Sq):
        n = _visible(c, i)
        r = qb[:, :, i] | khb[:, idx, :n].any(-1)          # [B, Hq]
        reads[:, :, i] = r[..., None] | vhb[:, idx, :n].any(2)
        leak[:, :, i] = vh_nonfinite[:, idx, n:touched[i]].any(2)
    return reads, leak & ~reads


def check_poisoned_forward(c, pipe, out, clean_out):
    want = ieee_forward(c)
    reads, leak = poison_masks(c, pipe)
    nf_out = ~np.isfinite(out)
    nf_want = ~np.isfinite(want)
    probs = []
    miss = nf_want & ~nf_out
    if miss.any():
        probs.append("%d elements finite where the float64 evaluation is not (first %s)"
                     % (int(miss.sum()), tuple(int(x) for x in np.argwhere(miss)[0])))
    lk_bad = leak & ~np.isnan(out)
    if lk_bad.any():
        probs.append("%d of %d leak elements not NaN" % (int(lk_bad.sum()), int(leak.sum())))
    clean = ~reads & ~leak
    differ = clean & ~((out == clean_out) | (np.isnan(out) & np.isnan(clean_out)))
    if differ.any():
        probs.append("%d unaffected elements differ from the clean run (%d non-finite; "
                     "first %s)" % (int(differ.sum()), int((clean & nf_out).sum()),
                                    tuple(int(x) for x in np.argwhere(differ)[0])))
    ra = reads & ~nf_want
    fin = ra & ~nf_out
    den = float(np.max(np.abs(want[~nf_want]))) if (~nf_want).any() else 1.0
    err = (float(np.max(np.abs(out[fin] - want[fin]))) / den) if fin.any() else 0.0
    if not err <= FWD_TOL:
        probs.append("finite affected values max_rel_err=%.3e > %.0e" % (err, FWD_TOL))
    text = ("[%s] [%s] forward: %d NaN, %d Inf of %d; float64 non-finite %d; leak %d; "
            "read the poison but finite in float64 %d (non-finite here %d, the finite "
            "ones max_rel_err=%.1e); unaffected %d (bit-identical to the clean run)"
            % (c.name, pipe, int(np.isnan(out).sum()), int(np.isinf(out).sum()), out.size,
               int(nf_want.sum()), int(leak.sum()), int(ra.sum()), int((ra & nf_out).sum()),
               err, int(clean.sum())))
    return report(not probs, text + ("; " + "; ".join(probs) if probs else ""))


def grad_block(c, b0, h0):
    """Masks (dq, dk, dv, dkw, dvw) of the poisoned block: KV head h0 (its
    query heads) in batch b0 (every batch if b0 is None); dkw, dvw row h0."""
    heads = np.arange(c.Hq) // c.G == h0
    bs = slice(None) if b0 is None else b0
    qm = np.zeros(c.q.shape, bool)
    qm[bs, heads] = True
    km = np.zeros(c.k.shape, bool)
    km[bs, h0] = True
    wm = np.zeros(c.kw.shape, bool)
    wm[h0] = True
    return [qm, km, km.copy(), wm, wm.copy()]


def check_poisoned_grad(c, pipe, grads, clean_grads, b0, h0, independent=()):
    """independent: results that do not depend on the poisoned operand at
    all (dv on v, dvw on vw): bit-identical to the clean run everywhere.
    Finite elements of dq, dk, dv inside the block that are finite in float64
    too must match it (normwise over those elements, 1e-5)."""
    want = ieee_grad(c)
    block = grad_block(c, b0, h0)
    probs, parts = [], []
    worst = 0.0
    for g, o, w, cl, m in zip(GRADS, grads, want, clean_grads, block):
        nf_o, nf_w = ~np.isfinite(o), ~np.isfinite(w)
        parts.append("%s %d/%d (float64 %d)" % (g, int(nf_o.sum()), o.size, int(nf_w.sum())))
        miss = nf_w & ~nf_o
        if miss.any():
            probs.append("%s: %d elements finite where the float64 gradient is not (first %s)"
                         % (g, int(miss.sum()), tuple(int(x) for x in np.argwhere(miss)[0])))
        out_block = np.ones(m.shape, bool) if g in independent else ~m
        differ = out_block & ~((o == cl) | (np.isnan(o) & np.isnan(cl)))
        if differ.any():
            probs.append("%s: %d elements %s differ from the clean run (%d non-finite)"
                         % (g, int(differ.sum()), "(independent of the poison)"
                            if g in independent else "outside the poisoned block",
                            int((out_block & nf_o).sum())))
        both = m & ~nf_o & ~nf_w
        if g in ("dq", "dk", "dv") and both.any() and g not in independent:
            den = float(np.max(np.abs(w[both])))
            e = float(np.max(np.abs(o[both] - w[both]))) / den if den > 0 else 0.0
            worst = max(worst, e)
            if not e <= GRAD_TOL:
                probs.append("%s: finite elements of the block max_rel_err=%.3e > %.0e"
                             % (g, e, GRAD_TOL))
    text = ("[%s] [%s] gradient: non-finite %s; outside the block%s bit-identical to the "
            "clean run; finite dq/dk/dv of the block max_rel_err=%.1e"
            % (c.name, pipe, ", ".join(parts),
               (" (and all of %s)" % ", ".join(independent)) if independent else "", worst))
    return report(not probs, text + ("; " + "; ".join(probs) if probs else ""))


_CLEAN = {}


def _poison_base(variant):
    """The clean inputs of a variant: 'causal' (Sq = Sk = 70), 'noncausal',
    'decode' (Sq = 5, Sk = 70, causal), 'kpos' (causal; k[..., 5] > 0 and
    a1, a2 > 0, so that a -Inf q[.., 5] makes every logit of its row -Inf)."""
    rng = _rng("poison")
    Sq = 5 if variant == "decode" else 70
    q, k, v, dout = _shape(rng, B=2, Hq=4, Hkv=2, Sq=Sq, Sk=70, D=17)
    kw = np.array([[0.8, 0.3], [-0.6, 1.1]])
    vw = np.array([[0.5, 0.5], [1.2, -0.4]])
    if variant == "kpos":
        k[:, :, :, 5] = np.abs(k[:, :, :, 5]) + 0.1
        kw = np.array([[0.8, 0.3], [0.6, 0.5]])
    return Case("clean %s" % variant, q, k, v, kw, vw, dout, causal=(variant != "noncausal"))


def _clean_run(variant, pipe, kind):
    """The clean problem through `pipe` (cached), checked against the float64
    reference once."""
    key = (variant, pipe, kind)
    if key not in _CLEAN:
        c = _poison_base(variant)
        res = run_checked(c, kind, pipe)
        if res:
            out, grads = res
            if out is not None:
                check_forward(c, pipe, out, c.ref_forward())
            if grads is not None:
                check_grads(c, pipe, grads, c.ref_grad(), c.grad_mag())
        _CLEAN[key] = res
    return _CLEAN[key]


def _poison(variant, what, index, value, b0, h0, kinds=("both",)):
    independent = {2: ("dv",), 4: ("dvw",)}.get(what, ())
    """Poison operand `what` (0..5: q, k, v, kw, vw, dout) at `index`; run
    through every pipeline as `kinds` (one program with forward and gradient,
    or separate 'fwd' and 'grad' programs) and check."""
    base = _poison_base(variant)
    args = [x.copy() for x in (base.q, base.k, base.v, base.kw, base.vw, base.dout)]
    args[what][index] = value
    names = ("q", "k", "v", "kw", "vw", "dout")
    c = Case("%s[%s]=%s, %s %s" % (names[what], ",".join(str(i) for i in index), value,
                                   variant, base.shape_text()),
             *args[:5], dout=args[5], causal=base.causal)
    for pipe in PIPELINES:
        for kind in kinds:
            cl = _clean_run(variant, pipe, kind)
            res = run_checked(c, kind, pipe)
            if not res or not cl:
                continue
            out, grads = res
            if out is not None:
                check_poisoned_forward(c, pipe, out, cl[0])
            if grads is not None:
                check_poisoned_grad(c, pipe, grads, cl[1], b0, h0, independent)


def nonfinite_case(fn):
    NONFINITE[fn.__name__.replace("n_", "", 1).replace("_", "-")] = fn
    return fn


NAN, INF = float("nan"), float("inf")


@nonfinite_case
def n_q_nan():
    """NaN in q[1, 3, 40, 5]: row 40 of head 3 is NaN (forward: every head
    dim; gradient: its dq row and, through dK^ and dV^, KV head 1 of batch 1).
    Run as separate forward and gradient programs."""
    _poison("causal", 0, (1, 3, 40, 5), NAN, 1, 1, kinds=("fwd", "grad"))


@nonfinite_case
def n_q_inf():
    """+Inf in q: logits +-Inf, Inf - Inf = NaN in the softmax: the row is NaN."""
    _poison("causal", 0, (1, 2, 40, 5), INF, 1, 1)


@nonfinite_case
def n_q_neginf_all_keys():
    """-Inf in q[1, 2, 40, 5] while k[.., 5] > 0 and a1, a2 > 0: every logit
    of that row is -Inf, the softmax is 0/0, NaN in IEEE arithmetic."""
    _poison("kpos", 0, (1, 2, 40, 5), -INF, 1, 1)


@nonfinite_case
def n_k_nan():
    """NaN in k[1, 1, 40, 5]: k^_40 and k^_41 are NaN; causal rows 0..39 of
    heads 2, 3 never see them and stay finite."""
    _poison("causal", 1, (1, 1, 40, 5), NAN, 1, 1)


@nonfinite_case
def n_k_inf():
    """+Inf in k[1, 1, 40, 5]: the logits of keys 40, 41 are +Inf (the row is
    NaN) or -Inf (weight 0: the row stays finite and correct), by the sign
    of q_i[5] * a."""
    _poison("causal", 1, (1, 1, 40, 5), INF, 1, 1)


@nonfinite_case
def n_k_nan_decode():
    """Sq = 5 < Sk = 70 (row i sees keys 0 .. 65 + i): NaN in k[0, 0, 68, 3]
    (k^_68, k^_69) reaches rows 3 and 4 only."""
    _poison("decode", 1, (0, 0, 68, 3), NAN, 0, 0)


@nonfinite_case
def n_v_nan():
    """NaN in v[1, 1, 40, 5]: column 5 of v^_40 and v^_41; the rows that see
    key 40 are NaN in column 5 only; masked rows may leak (README.md)."""
    _poison("causal", 2, (1, 1, 40, 5), NAN, 1, 1)


@nonfinite_case
def n_v_inf():
    """+Inf in v[1, 1, 40, 5] with b1 = 1.2, b2 = -0.4: v^_40[5] = +Inf,
    v^_41[5] = -Inf; a row that sees both gets Inf - Inf = NaN, the row that
    sees only key 40 gets +Inf."""
    _poison("causal", 2, (1, 1, 40, 5), INF, 1, 1)


@nonfinite_case
def n_v_nan_noncausal():
    """Non-causal: NaN in v[0, 0, 69, 0] (the last key) reaches column 0 of
    every row of query heads 0, 1 in batch 0."""
    _poison("noncausal", 2, (0, 0, 69, 0), NAN, 0, 0)


@nonfinite_case
def n_kw_nan():
    """NaN a1 of KV head 1: K^ of head 1 is NaN in every batch."""
    _poison("causal", 3, (1, 0), NAN, None, 1)


@nonfinite_case
def n_kw_a2_nan():
    """NaN a2 of KV head 0: k^_t, t >= 1, is NaN; k^_0 = a1 k_0 + a2 * 0 is
    NaN too in both pipelines (the halo term is multiplied, not skipped)."""
    _poison("causal", 3, (0, 1), NAN, None, 0)


@nonfinite_case
def n_vw_inf():
    """+Inf b1 of KV head 0: v^ of head 0 is +-Inf (NaN where v = 0).
    dvw = sum dV^ . v does not depend on vw: it stays finite."""
    _poison("causal", 4, (0, 0), INF, None, 0)


@nonfinite_case
def n_vw_b2_nan():
    """NaN b2 of KV head 1: v^_t is NaN for t >= 1, and v^_0 = b1 v_0 + b2 * 0
    is NaN too (the halo term is multiplied)."""
    _poison("causal", 4, (1, 1), NAN, None, 1)


@nonfinite_case
def n_dout_nan():
    """NaN in dout[1, 3, 40, 5] (the gradient's own input): dq row 40 of
    head 3, dV^ of the keys row 40 sees, dK^ and the weight gradients of KV
    head 1. Gradient program alone."""
    _poison("causal", 5, (1, 3, 40, 5), NAN, 1, 1, kinds=("grad",))


# ---------------------------------------------------------------------------
# Mode 4: determinism
# ---------------------------------------------------------------------------

def determinism_case(fn):
    DETERMINISM[fn.__name__.replace("d_", "", 1).replace("_", "-")] = fn
    return fn


def _same_bytes(runs):
    """Index of the first run whose .npy files differ from run 0's, or None."""
    for n, r in enumerate(runs[1:], 1):
        if r.raw != runs[0].raw:
            return n
    return None


def _determinism(c, kind, plan):
    """plan: [(pipeline, [OMP_NUM_THREADS of each run])]. All runs of one
    pipeline must write byte-identical .npy files; the first is also checked
    against the float64 reference."""
    for pipe, threads in plan:
        runs = []
        for t in threads:
            r = run_tool(c, kind, pipe, threads=t)
            if not r.ok:
                report(False, "[%s] [%s] %s OMP_NUM_THREADS=%s: %s"
                       % (c.name, pipe, kind, t, tool_failure(r)))
                break
            runs.append(r)
        else:
            out, grads = split(runs[0].outs, kind)
            if out is not None:
                check_forward(c, pipe, out, c.ref_forward())
            if grads is not None:
                check_grads(c, pipe, grads, c.ref_grad(), c.grad_mag())
            n = _same_bytes(runs)
            detail = ", ".join("OMP_NUM_THREADS=%s" % t for t in threads)
            if n is None:
                report(True, "[%s] [%s] %s: %d runs (%s) byte-identical"
                       % (c.name, pipe, kind, len(runs), detail))
            else:
                diffs = []
                for g, a, b in zip(("out",) + GRADS if kind == "both" else
                                   (("out",) if kind == "fwd" else GRADS),
                                   runs[0].outs, runs[n].outs):
                    nd = int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))
                    if nd:
                        diffs.append("%s: %d elements, max |diff| %.3g"
                                     % (g, nd, float(np.max(np.abs(a.astype(np.float64)
                                                                   - b)))))
                report(False, "[%s] [%s] %s: run %d (OMP_NUM_THREADS=%s) differs from run 0 "
                       "(OMP_NUM_THREADS=%s): %s" % (c.name, pipe, kind, n, threads[n],
                                                     threads[0], "; ".join(diffs)))


FUSED_RUNS = [2, 2, 2, 1, 3]      # three times on 2 threads, once on 1, once on 3
REF_RUNS = [2, 1]
SHORT_RUNS = [2, 1]


@determinism_case
def d_causal_gqa():
    """B=2, Hq=8, Hkv=2, Sq=Sk=200, D=40, causal: 2 * 2 * 13 work items of
    the fused forward (16 rows per head, query tiles visited 0, n-1, 1, ...)
    over 4 key tiles; the gradient's per-(batch, KV head) partial sums of
    dkw, dvw are added over the batch. Forward + gradient in one program:
    fused 3 x OMP_NUM_THREADS=2, 1 x 1, 1 x 3, reference twice (2, 1); the
    gradient alone (it runs its own forward first): fused on 2 and 1 threads."""
    rng = _rng("det-causal")
    q, k, v, dout = _shape(rng, B=2, Hq=8, Hkv=2, Sq=200, Sk=200, D=40)
    kw = np.array([[0.8, 0.3], [-0.6, 1.1]])
    vw = np.array([[0.5, 0.5], [1.2, -0.4]])
    c = Case("determinism causal B2 Hq8 Hkv2 Sq200 Sk200 D40", q, k, v, kw, vw, dout,
             causal=True)
    plan = [(p, FUSED_RUNS if p.startswith(FUSED_PIPE) else REF_RUNS) for p in PIPELINES]
    _determinism(c, "both", plan)
    _determinism(c, "grad", [(p, SHORT_RUNS) for p, t in plan if p.startswith(FUSED_PIPE)])


@determinism_case
def d_decode_noncausal():
    """B=3, Hq=6, Hkv=3, Sq=37 < Sk=150, D=67, not causal, explicit scale:
    the forward alone; fused 2 x OMP_NUM_THREADS=2, 1 x 1; reference twice
    (2, 1)."""
    rng = _rng("det-decode")
    q, k, v, dout = _shape(rng, B=3, Hq=6, Hkv=3, Sq=37, Sk=150, D=67)
    kw = np.array([[0.8, 0.3], [-0.6, 1.1], [0.2, 0.9]])
    vw = np.array([[0.5, 0.5], [1.2, -0.4], [1.0, 0.0]])
    c = Case("determinism B3 Hq6 Hkv3 Sq37 Sk150 D67 scale=0.3", q, k, v, kw, vw, dout,
             scale=0.3)
    plan = [(p, [2, 2, 1] if p.startswith(FUSED_PIPE) else REF_RUNS) for p in PIPELINES]
    _determinism(c, "fwd", plan)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def parse_seeds(items):
    seeds = []
    for it in items:
        if "-" in it:
            a, b = it.split("-")
            seeds += list(range(int(a), int(b) + 1))
        else:
            seeds.append(int(it))
    return seeds


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["random", "extreme", "nonfinite", "determinism"])
    p.add_argument("cases", nargs="*", help="seeds (random; N or N-M) or case names")
    p.add_argument("--list", action="store_true", help="list the cases of the mode")
    p.add_argument("--rope", action="store_true",
                   help="random: every case with rope_theta (D rounded up to even)")
    a = p.parse_intermixed_args(argv)
    t0 = time.time()
    if a.mode == "random":
        if a.list:
            for s in parse_seeds(a.cases or ["0-19"]):
                c, pipes = random_case(s, a.rope)
                print(s, c.shape_text(), c.name, pipes)
            return 0
        mode_random(parse_seeds(a.cases), a.rope)
    else:
        table = {"extreme": EXTREME, "nonfinite": NONFINITE,
                 "determinism": DETERMINISM}[a.mode]
        if a.list:
            for n in table:
                print(n)
            return 0
        names = a.cases or list(table)
        for n in names:
            if n not in table:
                report(False, "unknown %s case %r (known: %s)"
                       % (a.mode, n, ", ".join(table)))
                continue
            table[n]()
    print("torture %s: %d failure(s), %.1f s" % (a.mode, len(FAILURES), time.time() - t0))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
