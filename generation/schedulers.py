"""Noise schedules: one training schedule per model, and the samplers a user may choose from.

Training follows improved-diffusion: 1000 steps on the cosine schedule. The model may predict the
noise (epsilon, the original), v, or the clean image ("sample", x0): on a CPU budget x0 learns
legible glyphs far sooner (a probe drew words after 800 steps where epsilon drew speckle), and it
never divides by the vanishing signal at t = 999 the way epsilon does in DPM-Solver++. Sampling can use the
original's ancestral DDPM, or faster deterministic samplers that reach similar quality in far fewer
steps (DDIM, DPM-Solver++). All are built from the model's own training schedule, so they agree on
the betas and the prediction type.
"""

from __future__ import annotations

from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from generation.request_parsers import SAMPLERS

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def training_scheduler(
    prediction_type: str = "epsilon", learned_variance: bool = False, num_train_timesteps: int = 1000
) -> DDPMScheduler:
    """The forward process a model is trained on; its config is saved beside the weights.

    With `learned_variance` the model also predicts its reverse-step variances (see generation.variance),
    which the ancestral DDPM sampler then uses instead of the fixed posterior variance.
    """
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type=prediction_type,
        clip_sample=True,
        timestep_spacing="trailing",
        variance_type="learned_range" if learned_variance else "fixed_small",
    )


def sampling_scheduler(name: str, training: SchedulerMixin) -> SchedulerMixin:
    """A fresh sampler of kind `name` sharing `training`'s schedule (samplers keep per-run state)."""
    config = training.config
    if name == "ddpm":
        return DDPMScheduler.from_config(config)
    if name == "ddim":
        return DDIMScheduler.from_config(config, clip_sample=True, set_alpha_to_one=False)
    if name == "dpmsolver":
        return DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2, thresholding=True, sample_max_value=1.0,
            dynamic_thresholding_ratio=0.995, final_sigmas_type="zero",
        )
    raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SAMPLERS)}")
