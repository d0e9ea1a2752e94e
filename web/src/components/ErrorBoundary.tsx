// Keeps a rendering error from leaving a blank page, and offers a way out when the open
// (autosaved) workflow is what breaks the editor on every load.
import { Component, type ReactNode } from 'react';

interface State {
  error: Error | null;
}

export class ErrorBoundary extends Component<{ children: ReactNode; autosaveKey: string }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="fatal" role="alert">
        <h2>The editor hit an error</h2>
        <pre>{this.state.error.message}</pre>
        <button onClick={() => location.reload()}>Reload</button>{' '}
        <button
          onClick={() => {
            localStorage.removeItem(this.props.autosaveKey);
            location.reload();
          }}
        >
          Discard the open workflow and reload
        </button>
      </div>
    );
  }
}
