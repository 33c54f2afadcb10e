import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// One open connection: requests it is answering, and since when it has answered none.
interface ConnectionState {
  active: number;
  quietSince: number;
}

// The open connections of an HTTP server and whether each is answering a request. A shutdown waits on it before
// closing the server, because closing drops idle keep-alive connections at once: a request a client has just sent
// on one would meet a reset instead of an answer. Waiting until every connection is closed (a refusal carries
// Connection: close) or has been quiet for a while leaves only clients that stopped sending.
export class ConnectionTracker {
  private readonly connections = new Map<Socket, ConnectionState>();
  private readonly now: () => number;

  constructor(server: Server, now: () => number = () => performance.now()) {
    this.now = now;
    server.on('connection', (socket: Socket) => {
      this.connections.set(socket, { active: 0, quietSince: this.now() });
      socket.once('close', () => this.connections.delete(socket));
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const state = this.connections.get(request.socket);
      if (!state) return;
      state.active++;
      response.once('close', () => {
        state.active--;
        state.quietSince = this.now();
      });
    });
  }

  // Open connections.
  get size(): number {
    return this.connections.size;
  }

  // Requests being answered, over every connection.
  get activeRequests(): number {
    let active = 0;
    for (const state of this.connections.values()) active += state.active;
    return active;
  }

  // Whether no request is being answered and every open connection has been quiet for at least `quietMs`.
  isQuiet(quietMs: number): boolean {
    const now = this.now();
    for (const state of this.connections.values()) {
      if (state.active > 0 || now - state.quietSince < quietMs) return false;
    }
    return true;
  }

  // Resolves once isQuiet(quietMs) holds (checked every `pollMs`), or after `limitMs` whatever the state.
  async whenQuiet(quietMs: number, limitMs: number, pollMs = 20): Promise<void> {
    const until = this.now() + limitMs;
    while (!this.isQuiet(quietMs) && this.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
}
