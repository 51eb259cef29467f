// Builds a store layer while the suite is collected, so what the backend says of itself (its
// `Backend.Backend`) decides which tests are registered, instead of flags the caller repeats. The
// built context serves every test of the block and is closed after the last one.
import { layer, type Vitest } from "@effect/vitest"
import { Backend } from "@strata/core/backend"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { afterAll, describe } from "vitest"

/**
 * Registers `register`'s tests in a `describe` named `title`, over one instance of `storeLayer`
 * built during collection (a layer that fails to build fails the file, loudly).
 */
export const withBuilt = <R>(
  title: string,
  storeLayer: Layer.Layer<R | Backend.Backend, unknown>,
  timeout: Duration.Input,
  register: (
    it: Vitest.MethodsNonLive<R | Backend.Backend>,
    backend: Backend.Backend,
    context: Context.Context<R | Backend.Backend>
  ) => void
): void => {
  describe(title, async () => {
    const scope = Scope.makeUnsafe()
    const millis = Duration.toMillis(Duration.fromInputUnsafe(timeout))
    const context = await Effect.runPromise(
      Layer.buildWithScope(storeLayer, scope).pipe(Effect.timeout(Duration.millis(millis)))
    )
    afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), millis)
    layer(Layer.succeedContext(context), { timeout, excludeTestServices: true })((it) =>
      register(it, Context.get(context, Backend.Backend), context)
    )
  })
}
