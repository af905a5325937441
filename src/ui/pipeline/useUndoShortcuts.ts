import { useEffect } from 'react';
import { useStudio } from '../../store';

/** Text fields keep the browser's own undo. */
function editingText(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement) return true;
  return (
    target instanceof HTMLInputElement &&
    !['checkbox', 'radio', 'range', 'button', 'file'].includes(target.type)
  );
}

/** Ctrl/Cmd+Z undoes a pipeline edit; Ctrl/Cmd+Shift+Z and Ctrl+Y redo it; Escape ends picking layers. */
export function useUndoShortcuts(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && useStudio.getState().picking) {
        useStudio.getState().stopPicking();
        return;
      }
      if (!(e.ctrlKey || e.metaKey) || e.altKey || editingText(e.target)) return;
      const key = e.key.toLowerCase();
      const { undo, redo } = useStudio.getState();
      if (key === 'z' && !e.shiftKey) undo();
      else if ((key === 'z' && e.shiftKey) || (key === 'y' && !e.metaKey)) redo();
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
