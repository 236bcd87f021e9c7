import type { ClientRequest } from 'node:http';

/**
 * Whether a request failed on a kept-alive socket the server had just closed (its idle timeout raced
 * our reuse): the reset comes before any answer, so the server never served the request and sending
 * it once more on a fresh socket is safe. Node documents this check (`request.reusedSocket`). Such a
 * failure says nothing about the server's health: it must not count against it.
 */
export function failedOnStaleSocket(req: ClientRequest, error: NodeJS.ErrnoException): boolean {
  return req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
}
