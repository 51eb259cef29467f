// The enrolment event types of the DCB tests (docs/dcb.md's example): typed events whose event types
// tag them with the course and the student they touch.
import { EventCodec } from "@strata/core"
import * as Schema from "effect/Schema"

export const CourseDefined = EventCodec.type("CourseDefined", {
  schema: Schema.Struct({ course: Schema.String, seats: Schema.Int }),
  tags: (event) => [`course:${event.course}`]
})

export const StudentEnrolled = EventCodec.type("StudentEnrolled", {
  schema: Schema.Struct({ course: Schema.String, student: Schema.String }),
  tags: (event) => [`course:${event.course}`, `student:${event.student}`]
})
