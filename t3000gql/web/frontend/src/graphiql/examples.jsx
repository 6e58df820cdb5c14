// A GraphiQL plugin listing the schema's example operations (schema/examples/, built into examples.json):
// a click opens the example in a new tab.

import { useEffect, useState } from "react";
import { useGraphiQL, useGraphiQLActions } from "@graphiql/react";

function BookIcon() {
  return (
    <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="1.5">
      <path d="M4 5a2 2 0 0 1 2-2h13v16H6a2 2 0 0 0-2 2z" />
      <path d="M4 21V5M8 7h8M8 11h6" />
    </svg>
  );
}

function ExamplesList() {
  const [examples, setExamples] = useState(null);
  const [error, setError] = useState(null);
  const queryEditor = useGraphiQL((state) => state.queryEditor);
  const { addTab } = useGraphiQLActions();

  useEffect(() => {
    fetch("/static/examples.json")
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(response.statusText))))
      .then(setExamples, (e) => setError(String(e.message || e)));
  }, []);

  const open = (example) => {
    addTab();
    // The new tab's editor model exists after the store update: set the text on the next frame.
    requestAnimationFrame(() => queryEditor?.setValue(example.query));
  };

  if (error) return <p className="examples-error">Examples could not be loaded: {error}</p>;
  if (!examples) return <p>Loading…</p>;
  return (
    <div className="examples">
      <div className="graphiql-doc-explorer-title">Examples</div>
      <p className="examples-intro">Operations from the schema's examples; click one to open it in a new tab.</p>
      <ul>
        {examples.map((example) => (
          <li key={example.name}>
            <button type="button" className="example" data-example={example.name} onClick={() => open(example)}>
              <strong>{example.name}</strong>
              {example.description ? <span>{example.description}</span> : null}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export const examplesPlugin = { title: "Examples", icon: BookIcon, content: ExamplesList };
