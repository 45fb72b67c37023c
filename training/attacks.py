"""White-box attacks on a classifier that outputs log-probabilities: FGSM and PGD, L∞ and L2.

Everything works in [0, 1] pixel space (the model normalises inside), on whole batches,
and every adversarial example is clipped to [0, 1] and stays within ε of its original.
Each attack is written once here and used by training (adversarial regularisation,
adversarial training) and by evaluation alike.

    x_adv = pgd(model, x, y, eps=0.3, steps=40, step_size=0.01, restarts=10)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin")


def attack_loss(log_probs: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example loss the attacker maximises: cross-entropy, or the Carlini-Wagner margin.

    The margin max_{j≠y} z_j − z_y is computed on log-probabilities, which differ from the
    logits by one constant per example, so the margin is the logit margin exactly.
    """
    if loss == "ce":
        return F.nll_loss(log_probs, y, reduction="none")
    if loss == "margin":
        true = log_probs.gather(1, y[:, None])[:, 0]
        others = log_probs.masked_fill(F.one_hot(y, log_probs.shape[1]).bool(), float("-inf"))
        return others.amax(1) - true
    raise ValueError(f"unknown attack loss {loss!r}; choose one of {LOSSES}")


def _check(norm: str, loss: str, eps: float) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")
    if loss not in LOSSES:
        raise ValueError(f"unknown attack loss {loss!r}; choose one of {LOSSES}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, not {eps!r}")


def _l2_norms(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """The closest perturbation to `delta` inside the ε-ball of `norm`."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _l2_norms(delta)).clamp(max=1.0)


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    """A uniformly random perturbation inside the ε-ball (for L2: uniform in the ball)."""
    if norm == "linf":
        return (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * eps
    direction = torch.randn(x.shape, generator=generator, device=x.device)
    direction = direction / _l2_norms(direction)
    radius = torch.rand(x.shape[0], generator=generator, device=x.device) ** (1 / x[0].numel())
    return direction * radius.view(-1, *([1] * (x.dim() - 1))) * eps


def _ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    return grad.sign() if norm == "linf" else grad / _l2_norms(grad)


def _loss_and_grad(model, x_adv, y, loss):
    x_adv = x_adv.detach().requires_grad_(True)
    per_example = attack_loss(model(x_adv), y, loss)
    (grad,) = torch.autograd.grad(per_example.sum(), x_adv)
    return per_example.detach(), grad


def fgsm(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str = "linf",
    loss: str = "ce",
    rand_init: bool = False,
    step_size: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One gradient step of size `step_size` (default ε) from x, or from a random start (Wong et al.)."""
    _check(norm, loss, eps)
    start = random_start(x, eps, norm, generator) if rand_init else torch.zeros_like(x)
    x_adv = (x + start).clamp(0, 1)
    _, grad = _loss_and_grad(model, x_adv, y, loss)
    delta = x_adv + (eps if step_size is None else step_size) * _ascent_direction(grad, norm) - x
    return (x + project(delta, eps, norm)).clamp(0, 1).detach()


def pgd(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 40,
    step_size: float | None = None,
    norm: str = "linf",
    loss: str = "ce",
    restarts: int = 1,
    rand_init: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient ascent (Madry et al.); of all restarts, each example keeps its strongest.

    "Strongest" means misclassified if any restart misclassifies it, else the highest loss; an
    example already misclassified is not attacked again (which makes restarts cheap on weak models).
    step_size defaults to 2.5 ε / steps, which lets one run cross the ball.
    """
    _check(norm, loss, eps)
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, not {steps!r} and {restarts!r}")
    alpha = 2.5 * eps / steps if step_size is None else step_size
    best = x.clone()
    best_score = torch.full((len(x),), float("-inf"), device=x.device)
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        # A restart cannot do better than "misclassified": it only runs on examples not fooled yet.
        todo = (~fooled).nonzero()[:, 0]
        if len(todo) == 0:
            break
        xs, ys = x[todo], y[todo]
        delta = random_start(xs, eps, norm, generator) if rand_init else torch.zeros_like(xs)
        x_adv = (xs + delta).clamp(0, 1)
        for _ in range(steps):
            _, grad = _loss_and_grad(model, x_adv, ys, loss)
            delta = project(x_adv + alpha * _ascent_direction(grad, norm) - xs, eps, norm)
            x_adv = (xs + delta).clamp(0, 1).detach()
        with torch.no_grad():
            log_probs = model(x_adv)
            wrong = log_probs.argmax(1) != ys
            # A misclassified example outranks any correctly classified one.
            score = attack_loss(log_probs, ys, loss) + 1e6 * wrong
            better = score > best_score[todo]
            best[todo[better]], best_score[todo[better]] = x_adv[better], score[better]
            fooled[todo[wrong]] = True
    return best.detach()


def _one_drawing(model: torch.nn.Module, model_input) -> tuple[torch.Tensor, torch.Tensor]:
    """One preprocessed drawing ((28, 28) in [0, 1]) as a batch of one, and the model's log-probabilities on it."""
    model.eval()
    x = torch.as_tensor(model_input, dtype=torch.float32).view(1, 1, 28, 28)  # (B, C, H, W)
    with torch.no_grad():
        return x, model(x)  # (1, 1, 28, 28), (1, 10)


def smallest_fooling_eps(model: torch.nn.Module, model_input, max_eps: float = 0.5, step: float = 0.01) -> tuple[float, int] | None:
    """The smallest ε on a grid of `step` up to `max_eps` at which FGSM makes the model read one preprocessed
    drawing ((28, 28) in [0, 1]) as another class than it reads the drawing itself: (ε, that class), or None.

    FGSM's accuracy is not monotone in ε (a larger step can overshoot), hence a scan from the smallest ε, not
    a bisection: at most 50 steps of one image, about 30 ms on one CPU thread.
    """
    x, clean = _one_drawing(model, model_input)
    read = clean.argmax(1)  # (1,)
    for k in range(1, round(max_eps / step) + 1):
        eps = round(k * step, 6)
        twin = fgsm(model, x, read, eps)
        with torch.no_grad():
            now = model(twin).argmax(1)
        if now != read:
            return eps, int(now)
    return None


def adversarial_twin(model: torch.nn.Module, model_input, eps: float):
    """FGSM-perturb one preprocessed drawing against the model's own prediction.

    model_input: (28, 28) float array in [0, 1]. Returns (perturbed input, probabilities on
    the original, probabilities on the perturbed), the arrays as numpy.
    """
    x, clean_log_probs = _one_drawing(model, model_input)
    clean = clean_log_probs.exp()[0]
    x_adv = fgsm(model, x, clean.argmax().view(1), eps)
    with torch.no_grad():
        adv = model(x_adv).exp()[0]
    return x_adv[0, 0].numpy(), clean.numpy(), adv.numpy()
