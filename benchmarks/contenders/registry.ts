/**
 * Contender name -> endpoint factory, loaded on demand so that a worker only imports the stack
 * it runs.
 */
import type { ContenderName, EndpointFactory } from './contender.ts'

export async function loadContender (name: ContenderName): Promise<EndpointFactory> {
  switch (name) {
    case 'consensus-net': return (await import('./consensus-net.ts')).consensusNetEndpoint('event')
    case 'consensus-net-handler': return (await import('./consensus-net.ts')).consensusNetEndpoint('handler')
    case 'raw-per-message': return (await import('./raw-per-message.ts')).createRawPerMessage
    case 'raw-packed': return (await import('./raw-packed.ts')).createRawPacked
    case 'raw-stream-per-request': return (await import('./raw-stream-per-request.ts')).createRawStreamPerRequest
    case 'gossipsub': return (await import('./gossipsub.ts')).gossipsubContender(true)
    case 'gossipsub-nosign': return (await import('./gossipsub.ts')).gossipsubContender(false)
    case 'control': return (await import('./control.ts')).createControl
    default: throw new Error(`unknown contender ${String(name)}`)
  }
}
