"""The platform pipeline's workflow: one per platform pipeline (``platform.is_platform``), fanning
out into one child pipeline workflow per connected account.

    setup (the destination's tables) → list the accounts → start children, at most
    ``max_parallel_accounts`` backfilling at once (``admission.Admission``) → list again every
    ``list_every_s`` and on ``sync_now``, starting children for new accounts → on delete: the
    children forget their state, then the destination's tables are dropped

Children (``account_workflow_id``) are ordinary pipeline workflows for one account, started set
up and abandoned on close (they outlive this workflow's continue-as-new); each reports its status
changes (signal ``account_status``), which free backfill slots and make the ``accounts`` of the
``status`` query. ``pause``, ``resume``, ``delete`` and ``sync_now`` are forwarded to every child
started; ``webhook_event`` to the child of the event's ``account`` (Connect events carry it;
others are dropped). An account refused by Stripe parks its own child in ``error`` only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from stripe_sync.service.activities import PipelineActivities
    from stripe_sync.service.workflow_types import (
        PERMANENT_FAILURES,
        AccountStatus,
        Carry,
        PipelineStatus,
        PipelineWorkflowInput,
        PlatformCarry,
        PlatformWorkflowInput,
        SyncRequest,
        WebhookRef,
        account_workflow_id,
    )
    from stripe_sync.service.workflows import (
        ActivityMethod,
        PipelineWorkflow,
        failure_reason,
        history_is_long,
        is_pipeline_gone,
        run_call,
        shown_status,
    )

T = TypeVar("T")

CHILDREN_DELETE_TIMEOUT = timedelta(minutes=10)
"""How long a delete waits for the children to forget their state before dropping the tables."""


@dataclass
class Forward:
    """A signal for children: every child started (``account`` None) or one."""

    signal: Callable[..., Any]
    """A :class:`PipelineWorkflow` signal method."""
    account: str | None = None
    arg: Any = None


@workflow.defn
class PlatformWorkflow:
    @workflow.init
    def __init__(self, input: PlatformWorkflowInput) -> None:
        self.pipeline_id = input.pipeline_id
        self.carry = input.carry or PlatformCarry()
        self.deleting = False
        self.list_requested = False
        self.outbox: list[Forward] = []
        self.deleted: set[str] = set()

    @workflow.run
    async def run(self, input: PlatformWorkflowInput) -> None:
        admission = self.carry.admission
        try:
            while not self.deleting:
                await self.forward()
                if history_is_long(input.history_limit):
                    workflow.continue_as_new(
                        PlatformWorkflowInput(
                            self.pipeline_id, self.carry, input.history_limit, input.list_every_s
                        )
                    )
                if self.parked:
                    await workflow.wait_condition(
                        lambda: self.deleting or not self.parked or bool(self.outbox)
                    )
                elif not self.carry.set_up:
                    await self.setup()
                elif self.list_requested or self.listing_due(input.list_every_s):
                    await self.list_accounts()
                else:
                    await self.admit()
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(
                            lambda: (
                                self.deleting
                                or self.parked
                                or self.list_requested
                                or bool(self.outbox)
                                or bool(admission.to_admit(self.carry.max_parallel))
                            ),
                            timeout=self.until_listing(input.list_every_s),
                        )
            await self.forward()
            await self.children_deleted()
            await self.call(PipelineActivities.teardown, interruptible=False)
        except ActivityError as err:
            if is_pipeline_gone(err):
                return
            raise

    # -- steps -----------------------------------------------------------------------------

    async def setup(self) -> None:
        outcome = await self.call(PipelineActivities.setup)
        if outcome is None:
            return
        if outcome.permanent_error:
            self.carry.error = f"{outcome.failure_type}: {outcome.message}"
        else:
            self.carry.set_up = True

    async def list_accounts(self) -> None:
        self.list_requested = False
        listing = await self.call(PipelineActivities.list_accounts)
        if listing is None:
            return
        if listing.failure_type in PERMANENT_FAILURES:
            self.carry.error = f"{listing.failure_type}: {listing.message}"
            return
        self.carry.admission.add_listed(listing.accounts)
        self.carry.max_parallel = listing.max_parallel
        self.carry.listed_at = workflow.now().isoformat()

    async def admit(self) -> None:
        """Start the children the free backfill slots allow, in list order."""
        for account in self.carry.admission.to_admit(self.carry.max_parallel):
            child = PipelineWorkflowInput(self.pipeline_id, Carry(set_up=True), account=account)
            self.carry.admission.admit(account)
            self.carry.accounts[account] = AccountStatus(account, "backfilling")
            try:
                await workflow.start_child_workflow(
                    PipelineWorkflow.run,
                    child,
                    id=account_workflow_id(self.pipeline_id, account),
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:  # a parent started anew adopts the running child
                self.outbox.append(Forward(PipelineWorkflow.report_status, account))

    async def forward(self) -> None:
        """Send the signals waiting in the outbox to their children."""
        while self.outbox:
            forward = self.outbox.pop(0)
            admitted = self.carry.admission.admitted
            targets = admitted if forward.account is None else [forward.account]
            for account in targets:
                child = workflow.get_external_workflow_handle(
                    account_workflow_id(self.pipeline_id, account)
                )
                try:
                    if forward.arg is None:
                        await child.signal(forward.signal)
                    else:
                        await child.signal(forward.signal, forward.arg)
                except FailureError:  # the child no longer runs
                    if forward.signal is PipelineWorkflow.delete:
                        self.deleted.add(account)

    async def children_deleted(self) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self.deleted >= set(self.carry.admission.admitted),
                timeout=CHILDREN_DELETE_TIMEOUT,
            )

    async def call(self, method: ActivityMethod[T], interruptible: bool = True) -> T | None:
        def interrupted() -> bool:
            return interruptible and (self.deleting or self.carry.paused)

        try:
            return await run_call(method, SyncRequest(self.pipeline_id), interrupted)
        except ActivityError as err:
            if is_pipeline_gone(err):
                raise
            self.carry.error = failure_reason(method, err)  # parked, never failed
            return None

    # -- state -----------------------------------------------------------------------------

    @property
    def parked(self) -> bool:
        return self.carry.paused or self.carry.error is not None

    def listing_due(self, every_s: float) -> bool:
        return self.until_listing(every_s) <= 0

    def until_listing(self, every_s: float) -> float:
        """Seconds until the accounts should be listed again (≤ 0: now)."""
        if self.carry.listed_at is None:
            return 0.0
        due = datetime.fromisoformat(self.carry.listed_at) + timedelta(seconds=every_s)
        return (due - workflow.now()).total_seconds()

    # -- signals and query -----------------------------------------------------------------

    @workflow.signal
    def pause(self) -> None:
        self.carry.paused = True
        self.outbox.append(Forward(PipelineWorkflow.pause))

    @workflow.signal
    def resume(self) -> None:
        self.carry.paused = False
        self.carry.error = None
        self.outbox.append(Forward(PipelineWorkflow.resume))

    @workflow.signal
    def delete(self) -> None:
        self.deleting = True
        self.outbox.append(Forward(PipelineWorkflow.delete))

    @workflow.signal
    def sync_now(self) -> None:
        self.list_requested = True
        self.outbox.append(Forward(PipelineWorkflow.sync_now))

    @workflow.signal
    def webhook_event(self, ref: WebhookRef) -> None:
        if ref.account in self.carry.admission.admitted:
            self.outbox.append(Forward(PipelineWorkflow.webhook_event, ref.account, ref))
        # an account not started yet reads everything when it backfills

    @workflow.signal
    def account_status(self, report: AccountStatus) -> None:
        self.carry.accounts[report.account] = report
        self.carry.admission.report(report.account, report.status)
        if report.status == "deleted":
            self.deleted.add(report.account)

    @workflow.query
    def status(self) -> PipelineStatus:
        carry = self.carry
        complete = carry.listed_at is not None and carry.admission.complete
        stage = "live" if complete else "backfilling"
        status = shown_status(
            deleting=self.deleting,
            error=carry.error,
            paused=carry.paused,
            stage=stage if carry.listed_at is not None else "setup",
        )
        return PipelineStatus(
            status=status,
            reason=carry.error,
            backfill_complete=complete,
            accounts=[
                carry.accounts.get(account) or AccountStatus(account, "waiting")
                for account in carry.admission.listed
            ],
        )
