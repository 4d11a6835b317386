"""Docstring paragraphs shared by the estimators, written once.

A docstring names a shared paragraph by a line holding only ``{{name}}``
(its parameter or attribute); :func:`fill_doc` puts the paragraph there, so
numpydoc validates the assembled text.
"""

import re

PARAGRAPHS = {
    "hidden_layer_sizes": """\
    hidden_layer_sizes : int or array-like of int, default=(25,)
        Units in each hidden layer, any depth (``()`` for none).""",
    "activation": """\
    activation : {'logistic', 'tanh', 'relu', 'identity'}, default='logistic'
        Activation of the hidden units.""",
    "alpha": """\
    alpha : float or 'evidence', default=1.0
        The course's lambda: strength of the L2 penalty on the weights
        (intercepts are not penalized), scaled by ``1 / (2 S)``. 'evidence'
        (with ``solver='lm'``): chosen from the data as the fit goes, by
        MacKay's evidence (MATLAB's trainbr), starting from 0; the chosen
        value is ``alpha_``.""",
    "solver": """\
    solver : {'lbfgs', 'tnc', 'cg', 'bfgs', 'newton-cg', 'trust-ncg', \
'trust-krylov', 'lm'}, default='lbfgs'
        The :func:`scipy.optimize.minimize` method: L-BFGS-B, TNC, CG, BFGS,
        Newton-CG, trust-ncg, trust-krylov. The Newton-type methods use exact
        Hessian-vector products (see `curvature`). 'lm': Levenberg-Marquardt
        (MATLAB's trainlm) on the dense Gauss-Newton matrix, for networks of
        at most 3000 parameters (trust-ncg with Gauss-Newton curvature is its
        matrix-free equivalent); it trains in float64.
        'bfgs' stores a dense inverse Hessian: only for small networks.
        float32 data are trained in float32 by 'lbfgs', 'cg', 'bfgs' and
        'trust-ncg'; 'tnc', 'newton-cg' and 'trust-krylov' train them in
        float64 (a copy of X): TNC's finite-difference curvature, Newton-CG's
        line search and trust-krylov's model stall on float32 rounding.""",
    "curvature": """\
    curvature : {'auto', 'exact', 'gauss-newton'}, default='auto'
        The Hessian-vector product of the Newton-type solvers: the exact
        Hessian by the R-operator (Pearlmutter 1994), or the positive
        semi-definite Gauss-Newton matrix (Schraudolph 2002). 'auto' takes
        the exact Hessian for 'newton-cg' and 'trust-ncg' (on the
        standardized digits they converged in 67 and 164 iterations with it,
        but not within 200 with Gauss-Newton) and Gauss-Newton for
        'trust-krylov', whose scipy backend (trlib) gives run-to-run
        different iterates on indefinite Hessians. Both cost about one
        gradient evaluation per product and share the forward pass with the
        loss at the same parameters.""",
    "max_iter": """\
    max_iter : int, default=200
        Maximum number of iterations.""",
    "max_fun": """\
    max_fun : int, default=15000
        Maximum number of objective evaluations (loss and gradient), never
        exceeded by any solver; ``n_fun_`` counts every one.""",
    "tol": """\
    tol : float, default=1e-4
        Convergence tolerance: on the gradient of J for 'lbfgs', 'tnc', 'cg',
        'bfgs' and 'lm' (its largest component) and 'trust-ncg' and
        'trust-krylov' (its Euclidean norm), on the step for 'newton-cg'
        (the mean absolute change of the parameters, scipy's xtol); with
        early stopping also the least improvement of the validation score
        that counts. The default is MLPClassifier's and MLPRegressor's
        (their 'lbfgs' compares it with the gradient too); the user guide's
        "Coming from MLPClassifier" measures how often each value warns. A
        fit that stops above `tol` warns
        (:class:`~sklearn.exceptions.ConvergenceWarning`).""",
    "init_epsilon": """\
    init_epsilon : float, default=None
        Initial weights and intercepts are drawn from U(-b, b) with
        ``b = sqrt(6 / (fan_in + fan_out))`` per layer (the course's
        epsilon_init, 0.12 for 400 -> 25), or ``b = init_epsilon`` if given.""",
    "batch_size": """\
    batch_size : int, default=None
        Rows per chunk when evaluating the full-batch objective: bounds the
        extra memory, does not change the algorithm (this is not SGD).
        None picks them from the data's shape (never from the number of
        CPUs, so a fit gives the same result on any machine).""",
    "n_jobs": """\
    n_jobs : int, default=None
        Threads evaluating the chunks, the calling thread included; the
        model does not depend on it. None: the CPUs scikit-learn's own
        threaded estimators would use (within threadpoolctl's limits,
        ``OMP_NUM_THREADS`` and a joblib worker's inner-thread limit; at most
        8), each evaluation on all of them or on the calling thread alone,
        whichever has lately been faster. A positive value: that many
        threads; negative values count back from the available CPUs as in
        joblib (-1: all of them). Never more threads than chunks.
        Prediction follows it too on large inputs (the same result for any
        value; small inputs stay on the calling thread).""",
    "validation_fraction": """\
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.""",
    "n_iter_no_change": """\
    n_iter_no_change : int or np.inf, default=10
        Iterations without validation improvement before early stopping
        (``np.inf``: never stop early, still keep the best parameters).""",
    "random_state": """\
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the validation split.""",
    "warm_start": """\
    warm_start : bool, default=False
        Start the next fit from the current parameters (same classes and
        network shape). ``n_iter_``, ``n_fun_`` and ``loss_curve_`` then
        describe the last call to fit only.""",
    "verbose": """\
    verbose : int, default=0
        When positive, show the progress (iteration / max_iter, loss,
        gradient norm, validation score with early stopping, elapsed seconds
        and an upper bound of the time left) and a summary at the end. 1: one
        line updated in place on a terminal; 2, or whenever standard output
        is not a terminal (logs, notebooks): one line per iteration.""",
    "coefs_": """\
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape ``(fan_in, fan_out)``: views into one flat
        parameter vector.""",
    "intercepts_": """\
    intercepts_ : list of ndarray
        ``intercepts_[i]`` of shape ``(fan_out,)``: views into the same vector.""",
    "thetas_": """\
    thetas_ : list of ndarray
        The course's matrices, ``(fan_out, fan_in + 1)`` with the bias column
        first (copies).""",
    "n_features_in_": """\
    n_features_in_ : int
        Number of features seen during fit.""",
    "feature_names_in_": """\
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during fit, when X has string column names.""",
    "n_layers_": """\
    n_layers_ : int
        Number of layers, input and output included.""",
    "n_outputs_": """\
    n_outputs_ : int
        Number of output units.""",
    "activation_": """\
    activation_ : str
        Hidden activation of the fitted network (what predictions use, even
        if `activation` is changed after fit).""",
    "n_iter_": """\
    n_iter_ : int
        Iterations the solver ran.""",
    "n_fun_": """\
    n_fun_ : int
        Objective evaluations the solver made.""",
    "alpha_": """\
    alpha_ : float
        The penalty of the fitted parameters: `alpha`, or the one the
        evidence chose.""",
    "effective_n_params_": """\
    effective_n_params_ : float or None
        With ``alpha='evidence'``, the effective number of weights the data
        determine (MacKay's gamma); None otherwise.""",
    "n_hessp_": """\
    n_hessp_ : int
        Hessian-vector products the solver used (Newton-type solvers).""",
    "loss_": """\
    loss_ : float
        J of the returned parameters (on the training rows).""",
    "loss_curve_": """\
    loss_curve_ : list of float
        J after each iteration; ``len(loss_curve_) == n_iter_``.""",
    "best_loss_": """\
    best_loss_ : float
        Lowest J reached.""",
}


def fill_doc(obj):
    """Put the shared paragraphs into `obj`'s docstring (a class decorator)."""

    def paragraph(match):
        return PARAGRAPHS[match.group(1)]

    obj.__doc__ = re.sub(r"^    \{\{(\w+)\}\}$", paragraph, obj.__doc__, flags=re.M)
    return obj
