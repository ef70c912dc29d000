"""A plain diffusers training loop, the yardstick for ``radsynth bench train``'s step cost.

The same ``UNet2DModel`` as a radsynth preset, a synthetic batch, DDPM noising with
``DDPMScheduler.add_noise``, epsilon MSE, AdamW, gradient clipping and diffusers' ``EMAModel``:
what a user would write from the diffusers examples. Prints images/s as JSON.

    python scripts/bench_plain_loop.py --preset demo --steps 40
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from diffusers import DDPMScheduler
from diffusers.training_utils import EMAModel

from radsynth.config import build_config
from radsynth.models.unet import build_unet
from radsynth.training.config import TrainConfig, model_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tcfg = build_config(TrainConfig, {"data": ".", "out": ".", "preset": args.preset})
    torch.manual_seed(0)
    net = build_unet(model_config(tcfg))
    ema = EMAModel(net.parameters(), decay=tcfg.ema_decay)
    opt = torch.optim.AdamW(net.parameters(), lr=tcfg.lr)
    sched = DDPMScheduler(num_train_timesteps=tcfg.num_train_timesteps)
    size = tcfg.image_size_px
    x0 = torch.rand(tcfg.batch_size, 1, size, size) * 2 - 1

    def step() -> None:
        noise = torch.randn_like(x0)
        t = torch.randint(0, tcfg.num_train_timesteps, (x0.shape[0],))
        loss = torch.nn.functional.mse_loss(net(sched.add_noise(x0, noise, t), t).sample, noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.step(net.parameters())

    for _ in range(args.warmup_steps):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    images_per_s = args.steps * tcfg.batch_size / seconds
    figures = {"loop": "plain diffusers", "preset": args.preset, "batch": tcfg.batch_size,
               "threads": torch.get_num_threads(), "images_per_s": images_per_s}  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
