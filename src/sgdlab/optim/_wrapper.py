"""The base of the optimizers that wrap another one (GradientNoise, Lookahead)."""

from __future__ import annotations

from typing import Any, ClassVar

from torch.optim import Optimizer


class OptimizerWrapper(Optimizer):
    """An optimizer around ``optimizer``, whose ``param_groups``, ``state`` and ``defaults`` are the
    wrapped one's (so lr schedulers drive it), as are ``zero_grad`` and ``add_param_group``. Its
    ``state_dict`` is the wrapped one's with the wrapper's own state under ``STATE_KEY``
    (:meth:`wrapper_state`, :meth:`load_wrapper_state`)."""

    STATE_KEY: ClassVar[str]

    def __init__(self, optimizer: Optimizer) -> None:
        # Optimizer.__init__ sets up hooks (with a placeholder group); the groups and the state are
        # then the wrapped optimizer's own.
        super().__init__([{"params": []}], {})
        self.optimizer = optimizer
        self.param_groups = optimizer.param_groups
        self.state = optimizer.state
        self.defaults = optimizer.defaults

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "optimizer" not in self.__dict__:  # the placeholder group of Optimizer.__init__
            return super().add_param_group(param_group)
        self.optimizer.add_param_group(param_group)

    def wrapper_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_wrapper_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        sd = self.optimizer.state_dict()
        sd[self.STATE_KEY] = self.wrapper_state()
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        own = state_dict.pop(self.STATE_KEY, None)
        self.optimizer.load_state_dict(state_dict)
        if own is not None:
            self.load_wrapper_state(own)
