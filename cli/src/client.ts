// A plain fetch client for Orbit's API: the key goes in the `api_key` header (as Hyperstack clients
// send it); every error answer becomes an ApiError carrying the server's message and field.
import { ApiError, CliError, EXIT } from "./errors.js";

export type Query = Record<string, string | number | undefined>;

export interface ApiClientOptions {
  url: string;
  apiKey: string;
  /** Per request; a server that does not answer in time is a server error (exit 3). */
  timeoutMs?: number;
}

export class ApiClient {
  private readonly timeoutMs: number;

  constructor(private readonly o: ApiClientOptions) {
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  get<T = Record<string, unknown>>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, undefined, query);
  }

  post<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  put<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }

  delete<T = Record<string, unknown>>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const url = new URL(`${this.o.url}/v1${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { api_key: this.o.apiKey, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(url, {
        method, headers, signal: AbortSignal.timeout(this.timeoutMs),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === "TimeoutError") throw new CliError(`no answer from ${this.o.url} within ${this.timeoutMs / 1000} s (${method} ${url.pathname})`, EXIT.server);
      throw new CliError(`cannot reach Orbit at ${this.o.url}: ${err.cause?.code ?? err.cause?.message ?? err.message}`, EXIT.server);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`${this.o.url} answered ${method} ${url.pathname} with HTTP ${res.status} and a body that is not JSON: is it Orbit's API?`, EXIT.server);
    }
    const obj = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
    if (!res.ok) {
      const str = (k: string) => (typeof obj[k] === "string" ? obj[k] : undefined);
      throw new ApiError(res.status, str("message") ?? `HTTP ${res.status} ${res.statusText}`, str("field"), str("code"), str("request_id"));
    }
    return obj as T;
  }
}
