// The analytics module, loaded by the loader of a site that uses more than
// analytics (measure.ts holds what it does). Budget: 3 KB gzipped.
import { measure } from "./measure";

window.nudge?.d?.("analytics", measure);
