"""The multi-fidelity loop shared by the black-box strategies (random, evolution, the RL controller).

Each strategy is an ordinary ``Searcher`` over the NAS space's ``SearchSpace``. Every proposal is trained for
``ctx.low_epochs`` and the searcher is told that score; after every ``eta`` low-fidelity results the best
candidate not yet promoted is retrained for ``ctx.high_epochs`` if it ranks in the top ``1/eta`` (successive
halving, asynchronously, as ASHA does). Once only one promotion's time is left, the best candidates not yet
promoted train in full, in order, and when none is left, new low-fidelity candidates come in between: the search
uses its whole time and ends with at least one fully trained network whenever it had time for one.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any

from forgeml.nas.base import Candidate, NASStrategy
from forgeml.search.base import Searcher
from forgeml.trial import TrialResult, TrialStatus


class BlackBoxStrategy(NASStrategy):
    """``eta``: one in ``eta`` low-fidelity candidates may be promoted to full training."""

    eta: int = 3

    @abstractmethod
    def make_searcher(self) -> Searcher:
        """A fresh searcher; ``search`` binds it to the context's space and seed."""

    def search(self, ctx: Any) -> None:
        self.searcher = searcher = self.make_searcher()
        searcher.setup(ctx.space, seed=ctx.seed, warm_start=[ctx.space.default()])
        low: list[Candidate] = []
        promoted: set[int] = set()
        trial = 0
        while ctx.time_left() > 0:
            explore = ctx.time_left() > self._reserve(ctx, low)
            if not explore and self._promote(ctx, low, promoted, top_share=1.0):
                continue  # the time kept for promotions: the best candidates not yet trained in full, in order
            proposal = searcher.ask(trial)
            if proposal is None:
                if self._promote(ctx, low, promoted, top_share=1.0):
                    continue
                break
            cand = ctx.evaluate(proposal.config, ctx.low_epochs, source=self.name)
            searcher.tell(trial, _result(trial, cand))
            low.append(cand)
            trial += 1
            if explore and trial % self.eta == 0 and ctx.time_left() > 0:
                self._promote(ctx, low, promoted, top_share=1.0 / self.eta)

    def _reserve(self, ctx: Any, low: list[Candidate]) -> float:
        """Seconds one promotion is expected to take: the mean low-fidelity time scaled to full epochs."""
        timed = [c.seconds for c in low if c.ok]
        if not timed:
            return 0.0
        return 1.2 * (sum(timed) / len(timed)) * ctx.high_epochs / max(1, ctx.low_epochs)

    def _promote(self, ctx: Any, low: list[Candidate], promoted: set[int], *, top_share: float) -> bool:
        """Train the best unpromoted candidate of the top ``top_share`` in full; False when there is none."""
        ok = sorted((c for c in low if c.ok), key=lambda c: (-c.score, c.id))
        top = ok[:max(1, int(round(len(ok) * top_share)))]
        pick = next((c for c in top if c.id not in promoted), None)
        if pick is None:
            return False
        promoted.add(pick.id)
        ctx.evaluate(pick.genotype, ctx.high_epochs, source=f"{self.name}:promoted", keep=True)
        return True


def _result(trial: int, cand: Candidate) -> TrialResult:
    if cand.ok:
        return TrialResult(trial_id=trial, status=TrialStatus.COMPLETE, score=cand.score, loss=-float(cand.score),
                           fit_time=cand.seconds, duration=cand.seconds)
    return TrialResult(trial_id=trial, status=TrialStatus.FAILED, fit_time=cand.seconds, duration=cand.seconds)
