import { assert, describe, it } from "@effect/vitest"
import { DeciderSpec, Expectation, TestStore } from "@strata/testing"
import * as Effect from "effect/Effect"
import { Account, Deposited, InsufficientFunds, NotOpen, Opened, Withdrawn } from "./fixtures.ts"

// What a failed expectation says, for the tests of failing scenarios.
const failure = <R>(scenario: Effect.Effect<void, Expectation.ExpectationFailed, R>) =>
  Effect.map(Effect.flip(scenario), (error) => {
    assert.strictEqual(error._tag, "ExpectationFailed")
    return error
  })

for (const [name, store] of TestStore.all) {
  describe(`DeciderSpec (${name})`, () => {
    const spec = DeciderSpec.make(Account, { store: store() })
    const opened = [Opened.make({ owner: "Ada" })]

    it.effect("then: the command appends exactly these events", () =>
      spec.given([...opened, Deposited.make({ amount: 50 })])
        .when({ _tag: "Withdraw", amount: 30 })
        .then([Withdrawn.make({ amount: 30 })]))

    it.effect("then on a new instance (no given events)", () =>
      spec.given().when({ _tag: "Open", owner: "Ada" }).then(opened))

    it.effect("then fails, saying what differs, when other events are appended", () =>
      Effect.gen(function*() {
        const error = yield* failure(
          spec.given(opened).when({ _tag: "Deposit", amount: 5 }).then([Deposited.make({ amount: 6 })])
        )
        assert.include(error.message, "the events the command decided")
        assert.deepStrictEqual(error.expected, [Deposited.make({ amount: 6 })])
        assert.deepStrictEqual(error.actual, [Deposited.make({ amount: 5 })])
        assert.isTrue(error.showDiff)
      }))

    it.effect("then fails when the command fails, naming its error", () =>
      Effect.gen(function*() {
        const error = yield* failure(spec.given().when({ _tag: "Deposit", amount: 5 }).then([]))
        assert.include(error.message, "NotOpen")
        assert.instanceOf(error.cause, NotOpen)
      }))

    it.effect("thenFails with the expected error", () =>
      spec.given([...opened, Deposited.make({ amount: 10 })])
        .when({ _tag: "Withdraw", amount: 30 })
        .thenFails(new InsufficientFunds({ balance: 10 })))

    it.effect("thenFails with a check (assertions may throw)", () =>
      spec.given(opened).when({ _tag: "Withdraw", amount: 1 }).thenFails((error) => {
        assert.strictEqual(error._tag, "InsufficientFunds")
      }))

    it.effect("thenFails fails on another error, a failed check, or a command that succeeds", () =>
      Effect.gen(function*() {
        const other = yield* failure(
          spec.given().when({ _tag: "Withdraw", amount: 1 }).thenFails(new InsufficientFunds({ balance: 0 }))
        )
        assert.include(other.message, "the error")
        assert.instanceOf(other.actual, NotOpen)
        const checked = yield* failure(
          spec.given().when({ _tag: "Withdraw", amount: 1 }).thenFails((error) => error._tag === "InsufficientFunds")
        )
        assert.include(checked.message, "did not pass the check")
        const thrown = yield* failure(
          spec.given().when({ _tag: "Withdraw", amount: 1 }).thenFails((error) => {
            assert.strictEqual(error._tag, "InsufficientFunds")
          })
        )
        assert.strictEqual(thrown.expected, "InsufficientFunds")
        const succeeded = yield* failure(spec.given().when({ _tag: "Open", owner: "Ada" }).thenFails())
        assert.include(succeeded.message, "expected the command to fail")
      }))

    it.effect("thenNothing: an idempotent command appends nothing; it fails when something is appended", () =>
      Effect.gen(function*() {
        yield* spec.given(opened).when({ _tag: "Open", owner: "Ada" }).thenNothing()
        const error = yield* failure(spec.given().when({ _tag: "Open", owner: "Ada" }).thenNothing())
        assert.deepStrictEqual(error.actual, opened)
      }))

    it.effect("thenState: the state after the command", () =>
      Effect.gen(function*() {
        yield* spec.given([...opened, Deposited.make({ amount: 10 })])
          .when({ _tag: "Deposit", amount: 5 })
          .thenState({ open: true, balance: 15 })
        const error = yield* failure(
          spec.given(opened).when({ _tag: "Deposit", amount: 5 }).thenState({
            open: true,
            balance: 6
          })
        )
        assert.deepStrictEqual(error.actual, { open: true, balance: 5 })
      }))

    it.effect("each scenario runs on a store of its own", () =>
      Effect.gen(function*() {
        // Were the store shared, the second Open would find the first one's event and append nothing.
        yield* spec.given().when({ _tag: "Open", owner: "Ada" }).then(opened)
        yield* spec.given().when({ _tag: "Open", owner: "Ada" }).then(opened)
      }))
  })
}
