"""Bad input gets a clear error that names the argument, where it applies, and what was
expected against what was given (issue 5). Each test checks the exception type and the
words of the message.

Covered elsewhere, not repeated here: the first layer's feature count and consecutive
layer sizes (test_model), labels out of range, non-integer float labels, one-hot
width, hinge and BCE targets, x/t lengths (test_model), strings and a NaN count in
``predict`` (test_model), an array of another backend as ``x`` (test_model), empty
data, ``batch_size`` and ``epochs`` of ``fit`` (test_train), an unknown name in
``an.use`` (test_backend), bad layer configs (test_layers).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import anynet as an
from anynet import backends as _backends
from anynet.backends import get_backend, to_numpy

L = an.layers
losses = an.losses


def mlp(n_in=4, n_out=3, **kw):
    return an.Sequential([L.Linear(n_in, 5), L.Tanh(), L.Linear(5, n_out)], seed=0, **kw)


def other_backend(be):
    """A backend other than the session's and other than NumPy (NumPy input is always
    welcome), for mixing; or skip."""
    for name in ("array_api_strict", "torch", "jax"):
        if name != be.name and an.available_backends().get(name) is None:
            return get_backend(name)
    pytest.skip("needs a second backend besides the session's and NumPy")


@pytest.fixture
def fresh_backends():
    """Forget the cached Backend objects, so that a simulated install is really imported."""
    _backends._cache.clear()
    yield
    _backends._cache.clear()


# ------------------------------------------------------------------ ranks and shapes
def test_one_sample_without_a_batch_axis_says_how_to_batch_it(be):
    with pytest.raises(ValueError, match=r"predict: x must be 2-d of shape \(N, 4\) \(samples on axis 0\) "
                                         r"for layer 0 \(Linear\(in_features=4.*\), got shape \(4,\); it looks "
                                         r"like one sample: pass a batch of one, shape \(1, 4\)"):
        mlp().predict(np.ones(4))


def test_images_for_a_dense_model_suggest_flatten(be):
    with pytest.raises(ValueError, match=r"fit: x must be 2-d of shape \(N, 6\) .* got shape \(5, 2, 3\); "
                                         r"reshape it to \(5, 6\) or start the model with an.layers.Flatten\(\)"):
        mlp(6).fit(np.ones((5, 2, 3)), np.zeros(5, dtype=int), loss=losses.SoftmaxCrossEntropy(),
                   optimizer=an.optim.SGD(), verbose=0)


def test_a_scalar_is_not_a_batch(be):
    with pytest.raises(ValueError, match=r"predict: x must be a batch with the samples on axis 0 of shape "
                                         r"\(N, 4\), got a scalar"):
        mlp().predict(3.0)


def test_wrong_per_sample_shape_for_a_flatten_model(be):
    model = an.Sequential([L.Flatten(), L.Linear(6, 2)], input_shape=(2, 3))
    with pytest.raises(ValueError, match=r"predict: x of shape \(5, 3, 2\) has per-sample shape \(3, 2\) but the "
                                         r"model expects \(2, 3\) \(layer 0: Flatten\(\)\)"):
        model.predict(np.ones((5, 3, 2)))
    with pytest.raises(ValueError, match=r"x must be 3-d of shape \(N, 2, 3\) .* got shape \(5, 6\); "
                                         r"reshape it to \(5, 2, 3\)$"):
        model.predict(np.ones((5, 6)))


def test_flatten_model_without_input_shape_still_needs_a_batch_axis(be):
    model = an.Sequential([L.Flatten(), L.Linear(6, 2)])
    with pytest.raises(ValueError, match=r"predict: x must have at least 2 dimensions with the samples on "
                                         r"axis 0, got shape \(6,\)"):
        model.predict(np.ones(6))


@pytest.mark.parametrize(
    ("t", "message"),
    [
        (np.zeros((3, 1, 3)), r"t for SoftmaxCrossEntropy must be labels \(N,\) or one-hot rows \(N, C\), "
                              r"got shape \(3, 1, 3\)"),
        (np.zeros((3, 1), dtype=int), r"t for SoftmaxCrossEntropy has shape \(3, 1\): give class labels as "
                                      r"shape \(3,\) \(t.ravel\(\)\) or one-hot rows of width 3"),
    ],
)
def test_labels_of_the_wrong_rank(t, message, be):
    with pytest.raises(ValueError, match=rf"loss_and_grads: {message}"):
        mlp().loss_and_grads(np.ones((3, 4)), t, loss=losses.SoftmaxCrossEntropy())


def test_regression_targets_of_the_wrong_shape_say_the_expected_shape(be):
    with pytest.raises(ValueError, match=r"evaluate: t of shape \(3, 4\) does not match the model's output "
                                         r"\(N, 2\) for MSE: expected shape \(3, 2\)"):
        mlp(n_out=2).evaluate(np.ones((3, 4)), np.ones((3, 4)), loss=losses.MSE())


def test_column_targets_for_a_single_output_are_accepted(be):
    model = mlp(n_out=1, dtype="float64")
    x, t = np.ones((3, 4)), np.asarray([0.5, 1.0, 2.0])
    a = model.evaluate(x, t, loss=losses.MSE())
    b = model.evaluate(x, t[:, None], loss=losses.MSE())
    assert a == b


# ------------------------------------------------------------------ labels
def test_boolean_labels_are_refused_with_their_dtype(be):
    with pytest.raises(TypeError, match=r"fit: t for SoftmaxCrossEntropy must be integer class labels, got dtype bool"):
        mlp().fit(np.ones((3, 4)), np.array([True, False, True]), loss=losses.SoftmaxCrossEntropy(),
                  optimizer=an.optim.SGD(), verbose=0)


def test_negative_labels_name_the_first_bad_one(be):
    with pytest.raises(ValueError, match=r"loss_and_grads: t for MulticlassHinge holds labels in \[-1, 2\] but the "
                                         r"model has 3 outputs, so labels must be in \[0, 2\] \(the first that is "
                                         r"not: t\[1\] = -1\)"):
        mlp().loss_and_grads(np.ones((3, 4)), [0, -1, 2], loss=losses.MulticlassHinge())


def test_non_integer_labels_name_the_first_one(be):
    with pytest.raises(ValueError, match=r"t for SoftmaxCrossEntropy must be integer class labels, got non-integer "
                                         r"values such as t\[2\] = 1.5"):
        mlp().loss_and_grads(np.ones((3, 4)), [0.0, 1.0, 1.5], loss=losses.SoftmaxCrossEntropy())


def test_string_labels_are_not_numbers(be):
    with pytest.raises(TypeError, match=r"fit: t must hold real numbers \(int, float or bool\), got dtype <U3 \(str\)"):
        mlp().fit(np.ones((3, 4)), ["cat", "dog", "cat"], loss=losses.SoftmaxCrossEntropy(),
                  optimizer=an.optim.SGD(), verbose=0)


def test_integer_valued_float_labels_and_lists_are_accepted(be):
    model = mlp(dtype="float64")
    x = np.random.default_rng(0).normal(size=(3, 4))
    want = model.loss_and_grads(x, np.array([0, 2, 1]), loss=losses.SoftmaxCrossEntropy())[0]
    assert model.loss_and_grads(x, np.array([0.0, 2.0, 1.0]), loss=losses.SoftmaxCrossEntropy())[0] == want
    assert model.loss_and_grads(x.tolist(), [0, 2, 1], loss=losses.SoftmaxCrossEntropy())[0] == want
    assert model.loss_and_grads(tuple(map(tuple, x)), (0, 2, 1), loss=losses.SoftmaxCrossEntropy())[0] == want


# ------------------------------------------------------------------ NaN and inf
def test_inf_in_fit_inputs_gives_the_count_and_first_index(be):
    x = np.ones((6, 4))
    x[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"fit: x contains 1 non-finite value \(NaN or inf\); the first is "
                                         r"x\[3, 0\] = inf"):
        mlp().fit(x, np.zeros(6, dtype=int), loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(),
                  verbose=0)


def test_non_finite_backend_arrays_of_images_give_a_full_index(be):
    x = np.ones((3, 2, 3))
    x[1, 0, 2] = -np.inf
    x[2, 1, 1] = np.nan
    x[2, 1, 2] = np.nan
    model = an.Sequential([L.Flatten(), L.Linear(6, 2)], input_shape=(2, 3))
    with pytest.raises(ValueError, match=r"predict: x contains 3 non-finite values \(NaN or inf\); the first is "
                                         r"x\[1, 0, 2\] = -inf"):
        model.predict(be.asarray(x, dtype="float32"))  # checked on the backend, with standard calls


def test_non_finite_validation_data_is_named(be):
    xv = np.ones((2, 4))
    xv[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"fit: validation_data\[0\] contains 1 non-finite value \(NaN or inf\); "
                                         r"the first is validation_data\[0\]\[1, 3\] = nan"):
        mlp().fit(np.ones((3, 4)), [0, 1, 2], loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(),
                  validation_data=(xv, [0, 1]), verbose=0)


@pytest.mark.parametrize(
    ("loss", "t", "message"),
    [
        (losses.MSE(), [[0.0, np.nan], [1.0, 2.0], [np.inf, 0.0]], r"t contains 2 non-finite values \(NaN or inf\); "
                                                                  r"the first is t\[0, 1\] = nan"),
        (losses.SoftmaxCrossEntropy(), [0.0, np.nan, 1.0], r"t contains 1 non-finite value \(NaN or inf\); "
                                                           r"the first is t\[1\] = nan"),
    ],
)
def test_non_finite_targets_give_the_count_and_first_index(loss, t, message, be):
    model = mlp(n_out=2)
    with pytest.raises(ValueError, match=rf"loss_and_grads: {message}"):
        model.loss_and_grads(np.ones((3, 4)), np.asarray(t), loss=loss)


# ------------------------------------------------------------------ backends and devices mixed
def test_targets_of_another_backend_name_both(be):
    other = other_backend(be)
    model = mlp()
    t = other.asarray(np.array([0, 1, 2]))
    with pytest.raises(TypeError, match=rf"loss_and_grads: t is a {other.name} array but the model lives on "
                                        rf"backend '{be.name}'"):
        model.loss_and_grads(np.ones((3, 4)), t, loss=losses.SoftmaxCrossEntropy())


def test_validation_data_of_another_backend_is_named(be):
    other = other_backend(be)
    xv = other.asarray(np.ones((2, 4)))
    with pytest.raises(TypeError, match=rf"fit: validation_data\[0\] is a {other.name} array but the model "
                                        rf"lives on backend '{be.name}'"):
        mlp().fit(np.ones((3, 4)), [0, 1, 2], loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(),
                  validation_data=(xv, [0, 1]), verbose=0)


def second_device(name):
    """A model's backend and an array maker for another device of the same library."""
    if an.available_backends().get(name) is not None:
        pytest.skip(f"{name} cannot run here: {an.available_backends()[name]}")
    if name == "array_api_strict":
        import array_api_strict as lib

        return get_backend(name), lambda a: lib.asarray(a, device=lib.Device("device1")), r"Device\('device1'\)"
    import torch  # the meta device exists in every torch build, so this runs without a GPU

    return get_backend(name), lambda a: torch.as_tensor(a).to("meta"), "meta"


@pytest.mark.parametrize("name", ["array_api_strict", "torch"])
def test_arrays_on_another_device_name_both_devices(name, be):
    model_be, on_other, dev = second_device(name)
    model = mlp(backend=model_be)
    with pytest.raises(ValueError, match=rf"predict: x is on device .*{dev}.* but the model lives on {name} "
                                         r"device .*; move x there first"):
        model.predict(on_other(np.ones((2, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=rf"loss_and_grads: t is on device .*{dev}.* but the model lives on {name}"):
        model.loss_and_grads(np.ones((2, 4)), on_other(np.array([0, 1])), loss=losses.SoftmaxCrossEntropy())


# ------------------------------------------------------------------ backend names, installs, devices
def test_unknown_backend_name_in_a_model_lists_the_valid_ones(be):
    with pytest.raises(ValueError, match=r"unknown backend 'tensorflow': expected one of 'numpy', 'jax', 'cupy', "
                                         r"'torch', 'array_api_strict'"):
        an.Sequential([L.Linear(2, 2)], backend="tensorflow")


@pytest.mark.parametrize(("typo", "meant"), [("pytorch", "torch"), ("jaxx", "jax"), ("Numpy ", None)])
def test_backend_name_typos_get_a_suggestion(typo, meant, be):
    if meant is None:  # case and spaces are forgiven
        assert get_backend(typo).name == "numpy"
        return
    with pytest.raises(ValueError, match=rf"unknown backend '{typo}'.*; did you mean '{meant}'\?"):
        get_backend(typo)


def test_backend_name_must_be_a_string(be):
    with pytest.raises(TypeError, match=r"backend name must be a str, one of 'numpy'.*; got int"):
        an.use(3)


@pytest.mark.parametrize(("name", "package", "extra"), [("jax", "jax", "jax"), ("torch", "torch", "torch"),
                                                  ("array_api_strict", "array-api-strict", "strict")])
def test_a_backend_that_is_not_installed_says_what_to_install(name, package, extra, be, monkeypatch,
                                                              fresh_backends):
    # simulate: the import fails
    monkeypatch.setattr(_backends._REGISTRY[name], "module", "anynet_test_not_installed")
    message = (rf"backend '{name}' is not installed \(anynet_test_not_installed cannot be imported: No module "
               rf"named 'anynet_test_not_installed'\); install it with: pip install {package} \(from anynet's "
               rf"source tree: pip install '\.\[{extra}\]'\)")
    with pytest.raises(an.BackendError, match=message):
        an.use(name)
    with pytest.raises(an.BackendError, match=message):
        an.Sequential([L.Linear(2, 2)], backend=name)
    assert f"pip install '.[{extra}]'" in an.available_backends()[name]


def test_a_broken_install_says_so_and_how_to_reinstall(be, monkeypatch, tmp_path, fresh_backends):
    (tmp_path / "anynet_test_broken.py").write_text(
        "raise OSError('libcudart.so.12: cannot open shared object file: No such file or directory')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_backends._REGISTRY["torch"], "module", "anynet_test_broken")
    with pytest.raises(an.BackendError, match=r"backend 'torch' is installed but broken: importing anynet_test_broken "
                                              r"failed with OSError: libcudart.so.12: cannot open shared object "
                                              r"file.*; reinstall it with: pip install torch"):
        an.use("torch")


def fake_cupy(count):
    """A stand-in for the cupy module on a machine without a usable GPU."""
    def get_device_count():
        if isinstance(count, Exception):
            raise count
        return count

    mod = types.ModuleType("cupy")
    mod.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count),
                                     Device=lambda i: f"<CUDA Device {i}>")
    return mod


@pytest.mark.parametrize(
    ("count", "device", "message"),
    [
        (0, None, r"backend 'cupy' needs an NVIDIA GPU with CUDA: no CUDA device found; use backend 'numpy', "
                  r"'jax' or 'torch' on this machine"),
        (RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected"), None,
         r"backend 'cupy' needs an NVIDIA GPU with a working CUDA driver, and none is usable here "
         r"\(RuntimeError: cudaErrorNoDevice: no CUDA-capable device is detected\)"),
        (1, "cuda:3", r"backend 'cupy' has no device 'cuda:3': it sees 1 \(<CUDA Device 0>\)"),
        (1, "cpu", r"backend 'cupy' runs on CUDA devices only \('cuda', 'cuda:1', ...\), got device 'cpu'"),
    ],
)
def test_cupy_without_a_cuda_device_says_so(count, device, message, be, monkeypatch, fresh_backends):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count))
    with pytest.raises(an.BackendError, match=message):
        an.use("cupy", device)


def test_float64_on_a_device_without_it_is_refused_before_any_array(be):
    if an.available_backends()["torch"] is not None:
        pytest.skip(f"torch cannot run here: {an.available_backends()['torch']}")
    import torch

    mps = _backends.TorchBackend()
    mps.device = torch.device("mps")  # simulate Apple's GPU, which has no float64
    message = (r"backend 'torch' on device mps cannot compute in float64 \(Apple's MPS has no 64-bit floats\); "
               r"use dtype='float32', or device='cpu' for float64")
    with pytest.raises(an.BackendError, match=message):
        mps.dtype("float64")
    with pytest.raises(an.BackendError, match=message):
        an.Sequential([L.Linear(2, 2)], dtype="float64", backend=mps)


@pytest.mark.parametrize(
    ("name", "device", "message"),
    [
        ("numpy", "cuda", r"backend 'numpy' runs on the CPU only, got device 'cuda'"),
        ("jax", "cpu:3", r"backend 'jax' has no device 'cpu:3': it sees 1 \("),
        ("jax", 7, r"backend 'jax' has no device 7: it sees"),
        ("jax", "tpu", r"backend 'jax' has no 'tpu' device here \(it sees"),
        ("torch", "gpu", r"backend 'torch' has no device 'gpu' .*; use 'cpu', 'cuda', 'cuda:1' or 'mps'"),
        ("torch", "cuda", r"backend 'torch' has no device 'cuda': (this torch is a CPU-only build|no CUDA GPU)"),
        ("array_api_strict", "gpu", r"backend 'array_api_strict' has no device 'gpu' .*'CPU_DEVICE', 'device1'"),
    ],
)
def test_unknown_or_absent_devices_are_named(name, device, message, be):
    why = an.available_backends()[name]
    if why is not None:
        pytest.skip(f"{name} cannot run here: {why}")
    if name == "torch" and device == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA GPU: 'cuda' is a valid torch device here")
    if name == "jax":
        import jax

        try:
            exists = (len(jax.devices()) > device if isinstance(device, int)
                      else len(jax.devices(device.split(":")[0])) > int(device.partition(":")[2] or 0))
        except RuntimeError:
            exists = False
        if exists:
            pytest.skip(f"this machine has jax device {device!r}")
    with pytest.raises(an.BackendError, match=message):
        an.backends.get_backend(name, device)


# ------------------------------------------------------------------ non-numeric data
@pytest.mark.parametrize(
    ("x", "kind"),
    [
        (np.ones((2, 4), dtype=np.complex128), r"complex128 \(complex\)"),
        (np.array([[1.0, None, 2.0, 3.0]], dtype=object), r"object \(object\)"),
        ([[1.0, None, 2.0, 3.0]], r"object \(object\)"),
        (np.zeros((2, 4), dtype="datetime64[s]"), r"datetime64\[s\] \(datetime64\)"),
    ],
)
def test_non_numeric_inputs_name_their_dtype(x, kind, be):
    with pytest.raises(TypeError, match=rf"predict: x must hold real numbers \(int, float or bool\), got dtype {kind}"):
        mlp().predict(x)


def test_complex_backend_arrays_are_refused(be):
    x = be.xp.asarray([[1 + 2j, 0j, 0j, 1j]])
    with pytest.raises(TypeError, match=r"predict: x must hold real numbers \(int, float or bool\), got dtype .*complex"):
        mlp().predict(x)


def test_a_ragged_list_is_refused_like_numpy_refuses_it(be):
    with pytest.raises(ValueError, match=r"predict: x cannot be read as an array \(NumPy refuses it too\): .*"
                                         r"inhomogeneous"):
        mlp().predict([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]])


# ------------------------------------------------------------------ what NumPy accepts, anynet accepts
class Frame:
    """Not an array of any backend, but NumPy reads it (as pandas objects): ``__array__``."""

    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)


def test_lists_tuples_ints_bools_and_array_likes_are_accepted(be):
    model = mlp(dtype="float64")
    x = np.random.default_rng(0).integers(-3, 3, size=(5, 4))
    want = to_numpy(model.predict(x.astype(np.float64)))
    for given in (x, x.tolist(), tuple(map(tuple, x.tolist())), Frame(x)):
        np.testing.assert_array_equal(to_numpy(model.predict(given)), want)
    bools = x > 0
    np.testing.assert_array_equal(to_numpy(model.predict(bools.tolist())),
                                  to_numpy(model.predict(bools.astype(np.float64))))


def test_fit_accepts_lists_as_numpy_would(be):
    x = np.random.default_rng(0).normal(size=(8, 4))
    t = [0, 1, 2, 0, 1, 2, 0, 1]
    kw = dict(loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), epochs=2, batch_size=3,
              verbose=0)
    a = mlp(dtype="float64").fit(x, np.asarray(t), **kw).history["loss"]
    b = mlp(dtype="float64").fit(x.tolist(), t, **kw).history["loss"]
    assert a == b


# ------------------------------------------------------------------ other arguments
@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_predict_batch_size_must_be_a_positive_int(batch_size, be):
    with pytest.raises(ValueError, match=rf"predict: batch_size must be an int >= 1, got {batch_size}"):
        mlp().predict(np.ones((4, 4)), batch_size=batch_size)


def test_evaluate_batch_size_must_be_a_positive_int(be):
    with pytest.raises(ValueError, match=r"evaluate: batch_size must be an int >= 1, got 0"):
        mlp().evaluate(np.ones((4, 4)), [0, 1, 2, 0], loss=losses.SoftmaxCrossEntropy(), batch_size=0)


def test_not_a_loss_is_refused(be):
    with pytest.raises(TypeError, match=r"fit: loss must be an anynet loss \(e.g. an.losses.SoftmaxCrossEntropy\(\)\), "
                                        r"got 42"):
        mlp().fit(np.ones((3, 4)), [0, 1, 2], loss=42, optimizer=an.optim.SGD(), verbose=0)
    with pytest.raises(ValueError, match=r"unknown loss 'mean_squared_eror': expected one of"):
        mlp().fit(np.ones((3, 4)), [0, 1, 2], loss="mean_squared_eror", optimizer=an.optim.SGD(), verbose=0)


@pytest.mark.parametrize("dtype", ["float16", "int32", np.float64])
def test_model_dtype_must_be_float32_or_float64(dtype, be):
    with pytest.raises(ValueError, match=r"Sequential: dtype must be 'float32' or 'float64', got"):
        an.Sequential([L.Linear(2, 2)], dtype=dtype)
