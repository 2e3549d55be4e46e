"""Every plot of a small study, rendered and checked for what needs no eyes: axis labels (with units
where the quantity has them), no text outside the canvas, the ROC legend off the curves, one bin per
value for integer features, the label on top from the config (no hard-coded energy)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

from hepmva import metrics
from hepmva.learning_curves import LearningCurve
from hepmva.plotting import evaluation as pe
from hepmva.plotting import inputs as pi
from hepmva.plotting import methods as pm
from hepmva.plotting import roc as pr
from hepmva.plotting import training as pt
from hepmva.plotting import unsupervised as pu
from hepmva.plotting.style import PlotLabel

LABEL = PlotLabel(luminosity_pb=140000, sqrt_s_tev=13.6)


@pytest.fixture(scope="module")
def study():
    """A small two-class sample with the default study's kinds of features and 20 classifiers' scores."""
    rng = np.random.default_rng(0)
    n = 6000
    y = (rng.random(n) < 0.4).astype(int)
    njet = rng.poisson(np.where(y == 1, 2.5, 1.5))
    met = rng.exponential(np.where(y == 1, 70.0, 35.0)) + 5
    mjj = np.where(njet >= 2, np.where(y == 1, rng.normal(125, 15, n), rng.exponential(120, n) + 20), -1.0)
    w = rng.uniform(0.5, 1.5, n) * np.where(y == 1, 0.01, 1.0)
    w[rng.random(n) < 0.05] *= -1  # NLO-like negative weights
    llr = 1.2 * y + rng.normal(size=n)  # plays the exact likelihood ratio
    scores = {f"classifier_{i:02d}": llr + rng.normal(0, 0.3 + 0.1 * i, n) for i in range(20)}
    return {"y": y, "w": w, "njet": njet.astype(float), "met": met, "mjj": mjj, "llr": llr, "scores": scores}


# ---------------------------------------------------------------------------------------- checks
def _renderer(fig: Figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)  # a saved, closed figure
    canvas.draw()
    return canvas.get_renderer()


def assert_inside_canvas(fig: Figure, tol: float = 0.02) -> None:
    """No artist (label, legend, tick label, title) reaches outside the saved canvas."""
    bb = fig.get_tightbbox(_renderer(fig))  # inches
    w, h = fig.get_size_inches()
    assert bb.x0 >= -tol and bb.y0 >= -tol and bb.x1 <= w + tol and bb.y1 <= h + tol, (
        f"text outside the canvas: tight bbox {bb.bounds} vs canvas ({w}, {h})")


def _has_data(ax) -> bool:
    return bool(ax.lines or ax.patches or ax.collections or ax.images) and ax.get_visible() and ax.axison


def _categorical(ticklabels) -> bool:
    texts = [t.get_text() for t in ticklabels if t.get_text()]
    return bool(texts) and not all(t.replace("−", "-").replace(".", "").replace("-", "").replace("$", "")
                                   .replace("\\mathdefault{", "").replace("}", "").replace("^", "").isdigit()
                                   for t in texts)


def assert_axes_labelled(fig: Figure) -> None:
    """Every axes with data names its x and y quantity (an x label may sit on the panel below)."""
    _renderer(fig)
    axes = [a for a in fig.axes if _has_data(a)]
    assert axes, "a plot without data"
    for ax in axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_ylabel() or ax.get_xlabel()
            continue
        shared = ax.get_shared_x_axes().get_siblings(ax)
        assert any(a.get_xlabel() for a in shared) or _categorical(ax.get_xticklabels()), f"no x label: {ax}"
        assert ax.get_ylabel() or _categorical(ax.get_yticklabels()), f"no y label on {ax.get_xlabel()!r}"


def check(fig: Figure) -> Figure:
    assert_axes_labelled(fig)
    assert_inside_canvas(fig)
    return fig


def _top_label(fig: Figure) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def _step_edges(ax) -> list[np.ndarray]:
    return [p.get_data().edges for p in ax.patches if isinstance(p, StepPatch)]


# ---------------------------------------------------------------------------------------- inputs
def test_integer_feature_one_bin_per_value_with_integer_ticks(study, tmp_path):
    fig = check(pi.plot_distribution(study["njet"], study["y"], study["w"], xlabel="Number of jets",
                                     luminosity_pb=LABEL, path=tmp_path / "njet.png"))
    ax = fig.axes[0]
    for edges in _step_edges(ax):
        np.testing.assert_allclose(edges % 1, 0.5)  # bins centred on the integers
        np.testing.assert_allclose(np.diff(edges), 1.0)
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert ax.get_ylabel() == "Fraction of events"  # not a density above 1 on a 'unit area' axis
    assert "140 $\\mathrm{fb^{-1}}$ (13.6 TeV)" in _top_label(fig) and "hepmva" in _top_label(fig)


def test_continuous_feature_density_in_inverse_units_and_overflow_stated(study, tmp_path):
    fig = check(pi.plot_distribution(study["met"], study["y"], study["w"], xlabel="$E_T^{miss}$ [GeV]",
                                     luminosity_pb=LABEL, path=tmp_path / "met.png"))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Normalised to unit area [1/GeV]"
    legend = " ".join(t.get_text().replace("\n", " ") for t in ax.get_legend().get_texts())
    assert "overflow" in legend  # the tail beyond the plotted range is stated, not folded into the last bin


def test_two_jet_feature_default_is_not_drawn_and_its_fraction_is_stated(study, tmp_path):
    fig = check(pi.plot_distribution(study["mjj"], study["y"], study["w"], xlabel="$m_{jj}$ [GeV]", missing=-1,
                                     luminosity_pb=LABEL, path=tmp_path / "mjj.png"))
    ax = fig.axes[0]
    assert all(e[0] > 0 for e in _step_edges(ax))  # no bin at the default -1 (no spike)
    legend = " ".join(t.get_text().replace("\n", " ") for t in ax.get_legend().get_texts())
    m = study["y"] == 0
    frac = study["w"][m & (study["mjj"] == -1)].sum() / study["w"][m].sum()
    assert f"{100 * frac:.3g} % undefined (= -1)" in legend


def test_no_energy_is_printed_unless_the_config_gives_one(study):
    fig = pi.plot_distribution(study["met"], study["y"], study["w"], xlabel="MET [GeV]", luminosity_pb=140000)
    assert "TeV" not in _top_label(fig) and "140" in _top_label(fig)


def test_input_plots_stage_uses_each_features_default(study, tmp_path):
    import pandas as pd

    from hepmva import io
    from hepmva.stages.inputs import plot_inputs

    df = pd.DataFrame({"njet": study["njet"], "met": study["met"], "mjj": study["mjj"], "label": study["y"],
                       "weight": study["w"], "sample": "s", "fold": 0})  # a features table's bookkeeping
    io.write_table(df, tmp_path / "f.parquet")
    feats = [{"name": "njet", "label": "Number of jets"}, {"name": "met", "label": "MET [GeV]"},
             {"name": "mjj", "label": "$m_{jj}$ [GeV]", "default": -1}]
    plot_inputs([tmp_path / "f.parquet"], feats, luminosity_pb=140000, directory=tmp_path / "inputs",
                correlation_paths={"signal": tmp_path / "cs.png", "background": tmp_path / "cb.png"},
                plotting={"sqrt_s_tev": 13, "bins": 25})
    assert sorted(p.name for p in (tmp_path / "inputs").iterdir()) == ["met.png", "mjj.png", "njet.png"]


def test_input_plots_streamed_part_by_part_are_those_of_the_whole_table(study, tmp_path, monkeypatch):
    """The stage fills every histogram and the correlation sums part by part: the same bins (axis from all
    events below AXIS_EVENTS) and contents as the in-memory plot_distribution / weighted_correlation; with
    a smaller axis subsample the integer axes stay exact and the continuous range moves little."""
    import pandas as pd

    from hepmva import io
    from hepmva.histograms import feature_axis, weighted_hist
    from hepmva.stages import inputs

    df = pd.DataFrame({"njet": study["njet"], "met": study["met"], "mjj": study["mjj"], "label": study["y"],
                       "weight": study["w"], "sample": "s", "fold": 0})
    paths = []
    for k, part in enumerate(np.array_split(np.arange(len(df)), 4)):  # four "samples" of one table each
        io.write_table(df.iloc[part].assign(sample=f"s{k}"), tmp_path / f"f{k}.parquet")
        paths.append(tmp_path / f"f{k}.parquet")
    feats = [{"name": "njet"}, {"name": "met", "label": "MET [GeV]"}, {"name": "mjj", "default": -1}]
    got = inputs.plot_inputs(paths, feats, luminosity_pb=140000, directory=tmp_path / "a", plotting={"bins": 25})
    y, w = df["label"].to_numpy(), df["weight"].to_numpy()
    for f in feats:
        x = df[f["name"]].to_numpy()
        defined = x != f["default"] if "default" in f else np.ones(len(x), bool)
        axis = feature_axis(x[defined], w[defined], bins=25, groups=y[defined])
        for c in (0, 1):
            h, ref = got["hists"][f["name"]][c], weighted_hist(axis, x[defined & (y == c)], w[defined & (y == c)])
            np.testing.assert_array_equal(h.axes[0].edges, ref.axes[0].edges)
            np.testing.assert_allclose(h.values(flow=True), ref.values(flow=True), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(h.variances(flow=True), ref.variances(flow=True), rtol=1e-12, atol=1e-12)
    m = y == 0
    assert got["undefined"]["mjj"][0] == pytest.approx(w[m & (df["mjj"].to_numpy() == -1)].sum() / w[m].sum(),
                                                        rel=1e-12)
    assert got["undefined"]["njet"] == {}
    for c in (0, 1):
        X = df.loc[y == c, ["njet", "met", "mjj"]].to_numpy()
        np.testing.assert_allclose(got["correlation"][c], pi.weighted_correlation(X, w[y == c]), atol=1e-10)
    # memory bounded by the subsample: a 500-event axis sample; the integer axis is exact, the others close
    monkeypatch.setattr(inputs, "AXIS_EVENTS", 500)
    small = inputs.plot_inputs(paths, feats, luminosity_pb=140000, directory=tmp_path / "b", plotting={"bins": 25})
    assert small["hists"]["njet"][0].axes[0] == got["hists"]["njet"][0].axes[0]
    for c in (0, 1):  # every event is in the histogram (flow bins included), whatever the axis
        for n in ("njet", "met", "mjj"):
            assert small["hists"][n][c].values(flow=True).sum() == pytest.approx(
                got["hists"][n][c].values(flow=True).sum(), rel=1e-12)
    lo, hi = small["hists"]["met"][0].axes[0].edges[[0, -1]]
    ref_lo, ref_hi = got["hists"]["met"][0].axes[0].edges[[0, -1]]
    assert abs(hi - ref_hi) < 0.25 * (ref_hi - ref_lo) and abs(lo - ref_lo) < 0.25 * (ref_hi - ref_lo)


def test_correlation_matrix(study):
    X = np.column_stack([study["njet"], study["met"], study["mjj"]])
    check(pi.plot_correlation(X, study["w"], ["njet", "met", "mjj"], title="Correlations, signal"))


# ---------------------------------------------------------------------------------------- ROC
def _curves(study, n_bootstrap=0):
    y, w = study["y"], study["w"]
    curves = {name: metrics.rejection_curve(y, s, w, min_b_events=10, n_bootstrap=n_bootstrap)
              for name, s in study["scores"].items()}
    return curves, metrics.rejection_curve(y, study["llr"], w, min_b_events=10)


def test_roc_comparison_with_20_classifiers_is_readable(study, tmp_path):
    curves, limit = _curves(study, n_bootstrap=5)
    fig = check(pr.plot_roc(curves, limit=limit, max_curves=8, min_b_events=10, luminosity_pb=LABEL,
                            path=tmp_path / "roc_comparison.png"))
    main, ratio = fig.axes[0], fig.axes[1]
    drawn = [ln for ln in main.lines if ln.get_label().startswith("classifier_")]
    assert len(drawn) == 8  # the best 8 by AUC
    best = sorted(curves, key=lambda n: -curves[n].auc)[:8]
    assert [ln.get_label().split(" ")[0] for ln in drawn] == best
    assert len({ln.get_color() for ln in drawn}) == 8  # distinct colours
    assert len({ln.get_linestyle() for ln in drawn}) == 4  # and line styles
    from hepmva.plotting.style import curve_style
    assert len({tuple(curve_style(i).values()) for i in range(20)}) == 20  # 20 classifiers: 20 looks
    assert len(ratio.lines) == 8 + 1 and "NP limit" in ratio.get_ylabel()
    # the legend is outside the data area of the ROC panel
    r = _renderer(fig)
    legend = fig.legends[0].get_window_extent(r)
    assert not legend.overlaps(main.get_window_extent(r)) and not legend.overlaps(ratio.get_window_extent(r))
    # curves stop where fewer than 10 background MC events pass
    for ln in drawn:
        x, yv = ln.get_data()
        name = ln.get_label().split(" ")[0]
        assert np.all(np.isnan(np.asarray(yv)[np.asarray(x) < curves[name].eff_s_min]))
    assert main.get_ylim()[1] < 1e6
    assert "12 more classifier(s)" in fig.legends[0].get_title().get_text().replace("\n", " ")


def test_single_roc_with_limit_and_without(study):
    curves, limit = _curves(study)
    check(pr.plot_roc({"classifier_00": curves["classifier_00"]}, limit=limit, luminosity_pb=LABEL))
    fig = check(pr.plot_roc({"classifier_00": curves["classifier_00"]}, luminosity_pb=LABEL))
    assert len(fig.axes) == 1


# ---------------------------------------------------------------------------------------- evaluation
def test_overtraining_plot_prints_ad_pvalues_as_the_summary(study):
    y, w, s = study["y"], study["w"], study["scores"]["classifier_00"]
    half = np.arange(len(y)) % 2 == 0
    tests = metrics.overtraining_tests(y[half], s[half], y[~half], s[~half], np.abs(w[half]), np.abs(w[~half]))
    fig = check(pe.plot_overtraining(s[half], y[half], w[half], s[~half], y[~half], w[~half], tests=tests,
                                     xlabel="classifier_00 score", luminosity_pb=LABEL))
    legend = " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    for cls in ("signal", "background"):
        printed = metrics.format_pvalue(tests[f"ad_{cls}"].pvalue, "ad")
        printed = printed.replace(">= ", "$\\geq$").replace("<= ", "$\\leq$")
        assert f"AD p{'' if printed[0] == '$' else '='}{printed}" in legend


def test_cut_scan_with_and_without_background_uncertainty(study):
    y, w, s = study["y"], np.abs(study["w"]) * 100, study["scores"]["classifier_00"]
    scan = metrics.cut_scan(y, s, w, rel_unc_b=0.1)
    fig = check(pe.plot_cut_scan(scan.thresholds, scan.s, scan.b, scan.s_over_sqrt_s_plus_b, scan.z_asimov,
                                 best_threshold=scan.best.threshold, z_asimov_sys=scan.z_asimov_sys, rel_unc_b=0.1,
                                 best_threshold_sys=scan.best_sys.threshold, luminosity_pb=LABEL))
    labels = [ln.get_label() for ln in fig.axes[1].lines]
    assert any("\\sigma_B = 0" in t for t in labels) and any("10" in t and "sigma_B" in t for t in labels)


def test_importance_label_is_not_clipped():
    names = [f"feature_with_a_long_name_{i}" for i in range(10)]
    rng = np.random.default_rng(1)
    check(pe.plot_importance(names, rng.uniform(0, 0.05, 10), rng.uniform(0, 0.01, 10),
                             own_importance=rng.uniform(0, 1, 10), title="xgboost: variable ranking"))


def test_learning_curve_plots():
    c = LearningCurve(x=np.arange(1, 11), x_label="boosting rounds", loss_label="Log-loss",
                      train_loss=np.linspace(0.6, 0.3, 10), test_loss=np.linspace(0.62, 0.35, 10),
                      train_auc=np.linspace(0.7, 0.9, 10), test_auc=np.linspace(0.69, 0.88, 10))
    check(pe.plot_learning_curve({0: c, 1: c}, name="xgboost"))
    assert_inside_canvas(pe.plot_learning_curve({}, name="fisher", kind="fisher"))  # a text-only figure


def test_fixed_margins_hold_the_widest_tick_labels(study):
    """The single-panel plots place their axes with fixed margins (no layout engine's pass): tick labels of
    seven characters, densities of a feature in small units, yields of 10^7 and a title all stay inside."""
    rng = np.random.default_rng(3)
    tiny = rng.exponential(1e-4, len(study["y"]))  # a density of ~10^4 per unit
    check(pi.plot_distribution(tiny, study["y"], study["w"], xlabel="$\\Delta t$ [s]", luminosity_pb=LABEL))
    check(pi.plot_distribution(study["met"] * 1e4, study["y"], study["w"], xlabel="$E$ [MeV]", luminosity_pb=LABEL))
    c = LearningCurve(x=np.arange(1, 11), x_label="epochs", loss_label="Weighted binary cross-entropy",
                      train_loss=np.linspace(0.0001235, 0.0001105, 10), test_loss=np.linspace(0.0001245, 0.0001115, 10))
    check(pe.plot_learning_curve({0: c}, name="mlp"))
    edges = np.linspace(0, 1, 21)
    from hepmva.plotting.apply import plot_stack

    check(plot_stack(edges, {"ttbar": np.full(20, 3.2e7), "W+jets": np.full(20, 1.1e6), "signal": np.full(20, 812.0)},
                     np.full(20, 3.3e7), signal=("signal",), xlabel="xgboost score", luminosity_fb=140))


# ---------------------------------------------------------------------------------------- studies
def test_training_study_plots():
    curves = {m: {"nfev": np.arange(1, 51), "time": np.linspace(0.01, 2, 50),
                  "loss": np.exp(-np.arange(50) / (10 + i)), "val_auc": np.linspace(0.6, 0.85, 50)}
              for i, m in enumerate(["gd", "bfgs", "lbfgs", "ga"])}
    check(pm.plot_training_methods(curves, budget=50, title="same MLP, same budget"))
    check(pm.plot_learning_curves({m: (c["nfev"], c["loss"]) for m, c in curves.items()},
                                  xlabel="Loss evaluations", ylabel="Training loss"))
    opt = {m: {"loss": np.linspace(0.7, 0.4 + 0.01 * i, 10), "val_loss": np.linspace(0.72, 0.45, 10),
               "time": np.linspace(0.1, 1.0, 10), "initial_loss": 0.75, "diverged": False}
           for i, m in enumerate(["sgd", "adam", "rmsprop"])}
    check(pt.plot_loss_curves(opt))
    check(pt.plot_optimizer_comparison(opt, val_auc={"sgd": 0.8, "adam": 0.85, "rmsprop": 0.84}))
    check(pt.plot_learning_rate_scan([1e-3, 1e-2, 1e-1, 1.0], [0.6, 0.5, 0.45, np.nan],
                                     ["too slow", "ok", "ok", "diverged"], initial_loss=0.7,
                                     best_learning_rate=0.1, optimizer="sgd"))


def test_unsupervised_plots(study):
    rng = np.random.default_rng(2)
    y, w = study["y"], np.abs(study["w"])
    Z = rng.normal(size=(len(y), 4)) + y[:, None]
    labels = rng.integers(0, 4, len(y))
    check(pu.plot_clusters_pca(Z, labels, y, method="kmeans"))
    yield_s, yield_b = np.bincount(labels, w * y), np.bincount(labels, w * (1 - y))
    check(pu.plot_cluster_yields(np.arange(4), yield_s, yield_b, method="kmeans"))
    check(pu.plot_scree(np.array([0.5, 0.3, 0.15, 0.05])))
    check(pu.plot_loadings(rng.normal(size=(4, 3)), ["njet", "met", "mjj"],
                           explained_variance_ratio=[0.5, 0.3, 0.2, 0.0]))
    check(pu.plot_components_sb(Z, y, w, n_components=4))
    check(pu.plot_projection_sb(Z[:, 0], y, w))
    check(pu.plot_anomaly_scores(Z[:, 1], y, w, method="gmm", auc=0.7))
    roc = metrics.roc_curve(y, Z[:, 0], w)
    check(pu.plot_anomaly_roc({"gmm": (roc.eff_s, roc.eff_b, 0.7), "kde": (roc.eff_s, roc.eff_b, 0.7)}))


def test_input_plots_in_blocks_smaller_than_a_part_are_the_same(study, tmp_path):
    """Parts filled in blocks of 37 events: the same axes and, event order kept, the same histogram bits; the
    correlation sums added block by block differ by rounding only."""
    import pandas as pd

    from hepmva import io
    from hepmva.stages import inputs

    df = pd.DataFrame({"njet": study["njet"], "met": study["met"], "mjj": study["mjj"], "label": study["y"],
                       "weight": study["w"], "sample": "s", "fold": 0})
    paths = []
    for k, part in enumerate(np.array_split(np.arange(len(df)), 2)):
        io.write_table(df.iloc[part].assign(sample=f"s{k}"), tmp_path / f"f{k}.parquet")
        paths.append(tmp_path / f"f{k}.parquet")
    feats = [{"name": "njet"}, {"name": "met"}, {"name": "mjj", "default": -1}]
    whole = inputs.plot_inputs(paths, feats, luminosity_pb=140000, directory=tmp_path / "a")
    blocks = inputs.plot_inputs(paths, feats, luminosity_pb=140000, directory=tmp_path / "b", block_events=37)
    assert len(df) // 2 > 37
    for n in ("njet", "met", "mjj"):
        for c in (0, 1):
            h, ref = blocks["hists"][n][c], whole["hists"][n][c]
            assert h.axes[0] == ref.axes[0]
            assert h.values(flow=True).tobytes() == ref.values(flow=True).tobytes()
            assert h.variances(flow=True).tobytes() == ref.variances(flow=True).tobytes()
    assert blocks["undefined"] == whole["undefined"]
    for c in (0, 1):
        np.testing.assert_allclose(blocks["correlation"][c], whole["correlation"][c], rtol=0, atol=1e-12)
