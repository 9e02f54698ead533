// Types shared by the loader and the modules. Only types: nothing here costs bytes.

/** The site's public settings, from GET /config/{siteKey}. */
export interface SiteConfig {
  key: string;
  /** The modules the site uses; analytics loads at once when privacy allows. */
  modules: string[];
  /** Do Not Track / Global Privacy Control are honoured. */
  dnt: boolean;
  /** Nothing is stored or sent before nudge('consent', true). */
  consent: boolean;
  /** No visitor id is kept in the browser. */
  cookieless: boolean;
  /** How the chat looks: the launcher's corner, its distance from the corner's default place, and a chime for replies. */
  theme?: { color: string; position: string; offset_x?: number; offset_y?: number; sound?: boolean };
  /** The visitor's country (ISO 3166), when a trusted proxy names it. */
  country?: string | null;
  /** The site's time zone (IANA), for time facts and schedules. */
  zone?: string;
  /** Chat only for visitors a visitor token proves (nudge('token', jwt)): without one, no chat shows. */
  secured?: boolean;
  /** The backend may push offers: the guide polls for them while the page is visible. */
  push?: boolean;
  /** Published rules and the templates they show. */
  rules?: import("./rules").Rule[];
  templates?: Record<string, Template>;
}

/** What a content offer or an entry point shows. */
export interface Template {
  title: string;
  body?: string;
  image_url?: string;
  image_alt?: string;
  buttons?: { label: string; action: string; url?: string; queue?: string }[];
}

/** What the loader gives a module. */
export interface Ctx {
  key: string;
  base: string;
  cfg: SiteConfig;
  /** Whether the browser may store anything (consent given where asked, no Do Not Track where honoured). */
  may(): boolean;
  emit(event: string, data?: unknown): void;
}

/** A module answers the commands routed to it. */
export type Handler = (command: string, args: unknown[]) => void;

/** The public function, as the stub leaves it and the loader replaces it. */
export interface Nudge {
  (command: string, ...args: unknown[]): void;
  /** Calls queued by the stub before the loader arrived. */
  q?: IArguments[] | unknown[][];
  /** Set once the loader runs: the double-load guard. */
  l?: 1;
  /** Modules register here. */
  d?(name: string, factory: (c: Ctx) => Handler): void;
  /** The measuring loader's site settings, which its guide fills in. */
  c?: SiteConfig;
}

declare global {
  interface Window {
    nudge?: Nudge;
  }
}
