# Training from Python on the UCI digits (examples/data/digits.csv.gz), from
# NumPy arrays and from the file, and the weights as .npz.
import numpy as np
import pytest

import chainjit as cj


@pytest.fixture(scope="module")
def digits():
    data = cj.load_csv_dataset(str(cj_source() / "examples" / "data" / "digits.csv.gz"))
    data.scale(1 / 16)
    return data.split(0.2, seed=0)


def cj_source():
    from conftest import SOURCE_DIR
    return SOURCE_DIR


def test_dataset_from_arrays():
    d = cj.Dataset(np.zeros((4, 3), np.float32), np.array([0, 1, 1, 0]))
    assert len(d) == 4 and d.num_features == 3
    assert d.labels.dtype == np.int32 and d.features.dtype == np.float32
    with pytest.raises(cj.Error, match=r"labels: expected integer class labels \[4\]"):
        cj.Dataset(np.zeros((4, 3), np.float32), np.zeros(3, np.int32))
    with pytest.raises(cj.Error, match="features: expected a float32 or float64 array"):
        cj.Dataset(np.zeros(4, np.float32), np.zeros(4, np.int32))


def test_train_digits_mlp_from_arrays(digits, tmp_path):
    train, test = digits
    model = cj.load(str(cj_source() / "examples" / "digits_mlp.cj"))
    seen = []
    trainer, history = cj.train(model, (train.features, train.labels), validation=test,
                                on_epoch=seen.append, optimizer="sgd", lr=0.1, batch=32,
                                epochs=30)
    assert [h["epoch"] for h in history] == list(range(1, 31))
    assert seen == history
    assert history[-1]["loss"] < history[0]["loss"]
    # The README's `chainjit train` run (same split, seed and settings) reaches 97.77%.
    assert history[-1]["val_accuracy"] > 0.975
    metrics = trainer.evaluate(test)
    assert metrics["accuracy"] == pytest.approx(history[-1]["val_accuracy"])
    assert trainer.signature["features"] == "x" and trainer.signature["classes"] == 10

    path = tmp_path / "digits.npz"
    trainer.save_weights(str(path))
    with np.load(path) as z:  # a plain NumPy archive
        assert {"W1.npy", "b1.npy", "W2.npy", "b2.npy"} <= set(z.files) or \
            {"W1", "b1", "W2", "b2"} <= set(z.files)
    predict = cj.compile(cj.with_outputs(model, ["predicted"]), params=str(path))
    predicted = predict(x=test.features)["predicted"]
    assert (predicted == test.labels).mean() == pytest.approx(metrics["accuracy"])
    np.testing.assert_array_equal(trainer.params()["W1"], predict.params["W1"])


def test_config_options_and_callback_stop(digits):
    train, _ = digits
    model = cj.load(str(cj_source() / "examples" / "digits_mlp.cj"))
    config = cj.TrainConfig(optimizer="adam", lr=0.01, batch=64, epochs=5, l2=1e-4,
                            schedule="invsqrt", sampling="minibatch", seed=3)
    assert (config.optimizer, config.lr, config.batch, config.schedule) == ("adam", 0.01, 64, "invsqrt")
    history = cj.Trainer(model, config).fit(train, on_epoch=lambda m: m["epoch"] < 2)
    assert len(history) == 2

    def fails(metrics):
        raise ValueError("stop here")
    with pytest.raises(ValueError, match="stop here"):
        cj.Trainer(model, cj.TrainConfig(epochs=3)).fit(train, on_epoch=fails)


def test_config_errors(digits):
    model = cj.load(str(cj_source() / "examples" / "digits_mlp.cj"))
    with pytest.raises(cj.Error, match="TrainConfig has no setting 'learning_rate'"):
        cj.TrainConfig(learning_rate=0.1)
    with pytest.raises(cj.Error, match="rmsprop"):
        cj.TrainConfig(optimizer="rmsprop")
    with pytest.raises(cj.Error):
        cj.Trainer(model, cj.TrainConfig(batch=0))


def test_checkpoint_and_resume(digits, tmp_path):
    train, _ = digits
    model = cj.load(str(cj_source() / "examples" / "digits_mlp.cj"))
    ckpt = str(tmp_path / "run.ckpt")
    full = cj.Trainer(model, cj.TrainConfig(lr=0.1, epochs=4)).fit(train)
    cj.Trainer(model, cj.TrainConfig(lr=0.1, epochs=2, checkpoint=ckpt)).fit(train)
    resumed = cj.Trainer(model, cj.TrainConfig(lr=0.1, epochs=4, checkpoint=ckpt,
                                               resume=True)).fit(train)
    assert [h["loss"] for h in resumed] == [h["loss"] for h in full]
    weights = cj.compile(model, params=ckpt).params  # a checkpoint is a weights file too
    assert set(weights) == {"W1", "b1", "W2", "b2"}


def test_cross_validation_picks_from_the_grid(digits):
    train, _ = digits
    model = cj.load(str(cj_source() / "examples" / "digits_mlp.cj"))
    small = cj.Dataset(train.features[:400], train.labels[:400])
    r = cj.cross_validate(model, cj.TrainConfig(epochs=3, batch=32), small, folds=3,
                          lr_grid=[0.001, 0.1])
    assert [row["lr"] for row in r["rows"]] == [0.001, 0.1]
    assert all(len(row["folds"]) == 3 for row in r["rows"])
    assert r["best"] == 1  # the larger step learns far more in 3 epochs
    assert r["rows"][1]["mean"]["loss"] < r["rows"][0]["mean"]["loss"]
    assert "*" in r["table"]


def test_ctrl_c_stops_training_with_a_checkpoint(digits, tmp_path):
    import os
    import signal
    import threading
    import time
    train, _ = digits
    model = cj.load(str(cj_source() / "examples" / "digits_mlp.cj"))
    ckpt = str(tmp_path / "interrupted.ckpt")
    trainer = cj.Trainer(model, cj.TrainConfig(lr=0.1, epochs=100000, checkpoint=ckpt))
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(train)
    timer.join()
    assert time.monotonic() - start < 30
    assert os.path.exists(ckpt)  # the unfinished epoch, to resume from
    assert set(cj.compile(model, params=ckpt).params) == {"W1", "b1", "W2", "b2"}


def test_data_preparation_goes_into_the_weights(digits, tmp_path):
    train, _ = digits
    model = cj.load(str(cj_source() / "examples" / "digits_mlp.cj"))
    stats = ([0.5] * 64, [2.0] * 64)
    trainer = cj.Trainer(model, cj.TrainConfig(epochs=1, data_standardize=stats))
    assert trainer.signature["features"] == "x"
    trainer.fit(train)
    path = str(tmp_path / "w.npz")
    trainer.save_weights(path)
    with np.load(path) as z:
        names = {n[:-4] if n.endswith(".npy") else n for n in z.files}
        assert {"__data_mean__", "__data_std__"} <= names
    config = cj.TrainConfig(data_scale=0.0625)
    assert config.data_scale == 0.0625 and config.data_standardize is None


def test_train_regression_from_named_arrays():
    # {input name: array} data, float targets: the epoch dicts carry the mse.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    model = cj.load(str(cj_source() / "tests" / "cli" / "data" / "train" / "reg_linear.cj"))
    trainer, history = cj.train(model, {"x": x[:160], "y": y[:160]},
                                validation={"x": x[160:], "y": y[160:]},
                                optimizer="adam", lr=0.05, batch=20, epochs=20, backend="interp")
    assert history[0]["accuracy"] is None
    assert history[-1]["val_mse"] < history[0]["val_mse"] / 100
    assert trainer.evaluate({"x": x[160:], "y": y[160:]})["mse"] < 0.01


def deep_classifier(layers=6, width=32):
    # tanh layers of `width` units over the 64 digit features, f32, batch 32:
    # every layer output is 4 KiB, so the whole tape is several times the
    # least memory (one segment's 8 KiB of working values and a 4 KiB tape).
    lines = ["graph deep {", "  input %x : f32[32, 64]", "  input %labels : i32[32]"]
    h, n = "%x", 64
    for l in range(1, layers + 1):
        out = 10 if l == layers else width
        lines.append(f'  param %W{l} : f32[{n}, {out}] {{init = "glorot", seed = {l}}}')
        lines.append(f"  param %b{l} : f32[{out}]")
        lines.append(f"  %z{l} = matmul({h}, %W{l})")
        lines.append(f"  %a{l} = add(%z{l}, %b{l})")
        h, n = f"%a{l}", out
        if l < layers:
            lines.append(f"  %h{l} = tanh(%a{l})")
            h = f"%h{l}"
    lines += [f"  %loss = cross_entropy({h}, %labels)", "  output %loss", "}"]
    return cj.parse("\n".join(lines))


def test_train_within_a_memory_limit_equals_the_unlimited_run(digits):
    # TrainConfig.memory_limit (`chainjit train --memory-limit`): the step
    # recomputes forward values instead of keeping them all; the params equal
    # the unlimited run's.
    train, _ = digits
    model = deep_classifier()
    LIMIT = 12 * 1024  # the least that works, far below the whole tape
    config = cj.TrainConfig(optimizer="sgd", lr=0.1, batch=32, epochs=1)
    assert config.memory_limit is None
    unlimited = cj.Trainer(model, config)
    unlimited.fit(train)
    limited_config = cj.TrainConfig(optimizer="sgd", lr=0.1, batch=32, epochs=1,
                                    memory_limit=LIMIT)
    assert limited_config.memory_limit == LIMIT
    limited = cj.Trainer(model, limited_config)
    limited.fit(train)
    for name, w in unlimited.params().items():
        np.testing.assert_allclose(limited.params()[name], w, atol=1e-5)
    with pytest.raises(cj.Error, match="so at least 12.0 KiB"):
        cj.Trainer(model, cj.TrainConfig(epochs=1, memory_limit=LIMIT - 1))


def test_flush_denormals_is_on_by_default_and_can_be_turned_off(digits):
    # TrainConfig.flush_denormals (`chainjit train --keep-denormals` turns it
    # off): subnormal floats are flushed to zero while training; here none
    # arise, so both runs end with the same params.
    train, _ = digits
    model = deep_classifier()
    flushed = cj.TrainConfig(optimizer="momentum", lr=0.05, batch=32, epochs=1)
    assert flushed.flush_denormals is True
    kept = cj.TrainConfig(optimizer="momentum", lr=0.05, batch=32, epochs=1,
                          flush_denormals=False)
    assert kept.flush_denormals is False
    a, b = cj.Trainer(model, flushed), cj.Trainer(model, kept)
    a.fit(train)
    b.fit(train)
    for name, w in a.params().items():
        np.testing.assert_array_equal(b.params()[name], w)


def test_step_profiles_time_every_kernel_of_the_step(digits):
    # TrainConfig.profile_steps (`chainjit train --profile`): every kernel of
    # the compiled step timed on every step, by batch size; the training
    # itself is that of an unprofiled run.
    train, _ = digits
    model = deep_classifier()
    plain = cj.Trainer(model, cj.TrainConfig(optimizer="momentum", lr=0.05, batch=32,
                                             epochs=1))
    timed = cj.Trainer(model, cj.TrainConfig(optimizer="momentum", lr=0.05, batch=32,
                                             epochs=1, profile_steps=True))
    plain.fit(train)
    timed.fit(train)
    assert plain.step_profiles() == []
    profiles = timed.step_profiles()
    assert profiles and all(p["batch"] in (32, len(train) % 32) for p in profiles)
    steps = sum(p["calls"] for p in profiles)
    assert steps == -(-len(train) // 32)
    for p in profiles:
        assert p["kernels"] and all(k["calls"] == p["calls"] for k in p["kernels"])
        assert p["kernels"][0]["kernel"].startswith("#0 gemm ")
        assert sum(k["seconds"] for k in p["kernels"]) <= p["seconds"]
        assert "the rest of the call" in p["table"]
    for name, w in plain.params().items():
        np.testing.assert_array_equal(timed.params()[name], w)
    with pytest.raises(cj.Error, match="needs the JIT backend"):
        cj.Trainer(model, cj.TrainConfig(backend="interp", profile_steps=True))
