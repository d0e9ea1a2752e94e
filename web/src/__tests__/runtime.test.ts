import { beforeEach, describe, expect, it } from 'vitest';
import { clearRuntime, handleServerMessage, problemsFromNodeErrors, useRuntime } from '../runtime';

beforeEach(() => clearRuntime());

describe('execution state from websocket messages', () => {
  it('tracks the running node, its progress and outputs, and clears at the end', () => {
    handleServerMessage('execution_start', { prompt_id: 'p1' });
    handleServerMessage('execution_cached', { nodes: ['4'], prompt_id: 'p1' });
    handleServerMessage('executing', { node: '3', display_node: '3', prompt_id: 'p1' });
    handleServerMessage('progress', { value: 2, max: 4, node: '3', prompt_id: 'p1' });
    expect(useRuntime.getState()).toMatchObject({ running: '3', progress: { node: '3', value: 2, max: 4 }, cached: { '4': true } });
    handleServerMessage('executed', { node: '9', output: { images: [{ filename: 'a.png', subfolder: '', type: 'output' }] } });
    expect(useRuntime.getState().outputs['9']).toEqual([{ filename: 'a.png', subfolder: '', type: 'output' }]);
    handleServerMessage('executing', { node: null, prompt_id: 'p1' });
    expect(useRuntime.getState()).toMatchObject({ running: null, progress: null });
  });

  it('puts a runtime error on the failing node', () => {
    handleServerMessage('execution_start', { prompt_id: 'p2' });
    handleServerMessage('execution_error', {
      prompt_id: 'p2', node_id: '8', node_type: 'VAEDecode', exception_type: 'RuntimeError', exception_message: 'boom',
    });
    expect(useRuntime.getState().problems['8'].messages[0]).toBe('RuntimeError: boom');
    handleServerMessage('execution_start', { prompt_id: 'p3' });
    expect(useRuntime.getState().problems).toEqual({});
  });

  it('reads the queue size from status messages', () => {
    handleServerMessage('status', { status: { exec_info: { queue_remaining: 3 } } });
    expect(useRuntime.getState().queueRemaining).toBe(3);
  });
});

describe('validation errors from POST /prompt', () => {
  it('maps errors to inputs by input_name, others to the node', () => {
    const problems = problemsFromNodeErrors({
      '3': {
        class_type: 'KSampler',
        errors: [
          { type: 'required_input_missing', message: 'Required input is missing', details: 'latent_image', extra_info: { input_name: 'latent_image' } },
          { type: 'value_smaller_than_min', message: 'Value 0 smaller than min of 1', details: 'steps', extra_info: { input_name: 'steps' } },
        ],
      },
      '9': { errors: [{ type: 'custom', message: 'bad node' }] },
      '5': {},
    });
    expect(Object.keys(problems['3'].inputs)).toEqual(['latent_image', 'steps']);
    expect(problems['3'].inputs.steps).toMatch(/smaller than min/);
    expect(problems['9'].messages).toEqual(['bad node']);
    expect(problems['5'].messages).toEqual(['invalid node']);
  });
});
